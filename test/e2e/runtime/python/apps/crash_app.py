"""A script that dies of an uncaught exception carrying a secret, in a thread and then in the main thread."""

import threading


def work():
    raise ValueError("worker failed for alice.smith@example.com")


thread = threading.Thread(target=work, name="worker-1")
thread.start()
thread.join()
raise RuntimeError("password=hunter2-Sup3r rejected")
