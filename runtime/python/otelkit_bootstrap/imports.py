"""Patches applied when the app imports a library, not before: a library the app never imports costs
nothing at start-up (structlog, tenacity, httpx and the rest are ~0.15 s of imports together)."""

from __future__ import annotations

import sys
import threading
from importlib.abc import MetaPathFinder
from typing import Any, Callable

Hook = Callable[[Any], None]


class AfterImport(MetaPathFinder):
    """Runs hook(module) once the named module has executed, on whichever import loads it first."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self._hooks: dict[str, list[tuple[str, Hook]]] = {}
        self._lock = threading.RLock()
        self._warn = warn

    def when_imported(self, module: str, name: str, hook: Hook) -> None:
        with self._lock:
            loaded = sys.modules.get(module)
            if loaded is None:
                self._hooks.setdefault(module, []).append((name, hook))
                if self not in sys.meta_path:
                    sys.meta_path.insert(0, self)
                return
        self._run(name, hook, loaded)

    def _run(self, name: str, hook: Hook, module: Any) -> None:
        try:
            hook(module)
        except Exception as error:  # a library version it does not know must not break the app's import
            self._warn(f"{name}: not installed ({type(error).__name__}: {error})")

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self._hooks:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        # the loader object stays the module's own (importlib.resources and friends ask it things)
        def exec_module(module: Any) -> None:
            original(module)
            with self._lock:
                hooks = self._hooks.pop(fullname, [])
            for name, hook in hooks:
                self._run(name, hook, module)

        loader.exec_module = exec_module
        return spec
