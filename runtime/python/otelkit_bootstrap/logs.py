"""Every record of stdlib `logging` and of `structlog` becomes one JSON line in the standard's schema,
redacted, and the same record is emitted once as an OTLP log through the agent's LoggerProvider.

The records are taken where they start (Logger.handle, and the end of structlog's processor chain), so
whatever handlers the app or its server configured (uvicorn's access log, a basicConfig) print the
redacted record or, for console handlers, nothing: the JSON line is the one console output, and an
access line with `?token=...` in it is never printed as it came.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from datetime import datetime, timezone
from typing import Any

from .context import FRONTEND_ATTRIBUTE, REQUEST_ID_ATTRIBUTE, UNKNOWN_FRONTEND, current
from .redact import Redactor
from .settings import Settings

RANK = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_STDLIB_LEVEL = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}
_STRUCTLOG_LEVEL = {
    "debug": "debug",
    "info": "info",
    "msg": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "exception": "error",
    "err": "error",
    "critical": "critical",
    "fatal": "critical",
}
# attributes every LogRecord has; anything else on a record came from `extra=`
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_OWN_MARK = "_otelkit_seen"
# the retention class of the spec (signals.logs.classes), as the Collector and Loki read it
LOG_CLASS_ATTRIBUTE = "log.class"
# servers' request logs are the access class (kept longer by default); everything else is application
_ACCESS_LOGGERS = frozenset({"uvicorn.access", "gunicorn.access", "hypercorn.access", "werkzeug"})
# the line's own fields, and uvicorn's ANSI-coloured copy of its message
_RESERVED = frozenset({"timestamp", "level", "logger", "message", "event", "service", "environment", "color_message"})


def level_of(levelno: int) -> str:
    if levelno in _STDLIB_LEVEL:
        return _STDLIB_LEVEL[levelno]
    return "debug" if levelno < logging.INFO else "info" if levelno < logging.WARNING else "warning" if levelno < logging.ERROR else "error" if levelno < logging.CRITICAL else "critical"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _attribute(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(value, default=str, separators=(",", ":"))


class Sink:
    def __init__(self, settings: Settings, redactor: Redactor) -> None:
        self._settings = settings
        self._redactor = redactor
        self._threshold = RANK[settings.log_level]
        self._local = threading.local()
        self._otel_logger = None
        self._severity: dict[str, Any] = {}

    def attach_otlp(self) -> None:
        """After the agent set the LoggerProvider up: records go to its exporter from then on."""
        try:
            from opentelemetry._logs import SeverityNumber, get_logger
        except ImportError:
            return
        self._otel_logger = get_logger("otelkit.bootstrap")
        self._severity = {
            "debug": SeverityNumber.DEBUG,
            "info": SeverityNumber.INFO,
            "warning": SeverityNumber.WARN,
            "error": SeverityNumber.ERROR,
            "critical": SeverityNumber.FATAL,
        }

    def enabled(self, level: str) -> bool:
        return RANK[level] >= self._threshold

    def write(
        self,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any] | None = None,
        *,
        created: float | None = None,
        func_name: str | None = None,
        lineno: int | None = None,
        exception: str | None = None,
    ) -> None:
        if getattr(self._local, "busy", False):
            return
        if func_name is None:
            # the standard has func_name and lineno on every line: the bootstrap's own (a resilience
            # event) name the app's code that got there
            func_name, lineno = _caller() or (None, lineno)
        self._local.busy = True
        try:
            self._write(level, logger, message, fields or {}, created, func_name, lineno, exception)
        finally:
            self._local.busy = False

    def _write(self, level, logger, message, fields, created, func_name, lineno, exception) -> None:
        redactor = self._redactor
        text = redactor.text(message)
        extra = {
            key: redactor.value(key, value)
            for key, value in fields.items()
            if key not in _RESERVED
        }
        state = current.get()
        span_context = _span_context()
        line: dict[str, Any] = {
            "timestamp": _iso(created if created is not None else datetime.now(timezone.utc).timestamp()),
            "level": level,
            "logger": logger,
            "message": text,
            "event": text,
            "service": self._settings.service,
            "environment": self._settings.environment,
            REQUEST_ID_ATTRIBUTE: state.request_id if state else None,
            "trace_id": span_context[0] if span_context else None,
            "span_id": span_context[1] if span_context else None,
            FRONTEND_ATTRIBUTE: state.frontend if state else UNKNOWN_FRONTEND,
        }
        if state and "source" not in extra and state.frontend != UNKNOWN_FRONTEND:
            # the standard's `source` is the frontend in HTTP context, set explicitly elsewhere
            line["source"] = state.frontend
        if func_name is not None:
            line["func_name"] = func_name
        if lineno is not None:
            line["lineno"] = lineno
        if exception:
            line["exception"] = redactor.text(exception)
        log_class = "access" if logger in _ACCESS_LOGGERS else "application"
        if log_class != "application":
            line[LOG_CLASS_ATTRIBUTE] = log_class
        line.update(extra)
        stream = sys.stderr if RANK[level] >= RANK["warning"] else sys.stdout
        try:
            stream.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass
        # the agent's own warnings (an exporter that cannot reach the Collector) are printed, not exported
        if self._otel_logger is not None and not logger.startswith("opentelemetry"):
            attributes = {"logger.name": logger, LOG_CLASS_ATTRIBUTE: log_class}
            if state:
                attributes[REQUEST_ID_ATTRIBUTE] = state.request_id
                attributes[FRONTEND_ATTRIBUTE] = state.frontend
            if func_name is not None:
                attributes["code.function.name"] = func_name
            if lineno is not None:
                attributes["code.line.number"] = lineno
            if exception:
                attributes["exception.stacktrace"] = line["exception"]
            for key, value in extra.items():
                if value is not None:
                    attributes[key] = _attribute(value)
            if "source" in line:
                attributes["source"] = line["source"]
            self._otel_logger.emit(
                timestamp=int((created if created is not None else datetime.now(timezone.utc).timestamp()) * 1e9),
                severity_number=self._severity[level],
                severity_text=level.upper(),
                body=text,
                attributes=attributes,
            )

    # stdlib logging -------------------------------------------------------------------------------

    def from_record(self, record: logging.LogRecord) -> None:
        level = level_of(record.levelno)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in the app's call must not lose the record
            message = str(record.msg)
        fields = {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS and not key.startswith("_")}
        if isinstance(record.msg, dict) and not record.args:
            # structlog routed into stdlib logging (ProcessorFormatter.wrap_for_formatter)
            fields = {**{k: v for k, v in record.msg.items() if k not in ("event", "level", "timestamp")}, **fields}
            message = str(record.msg.get("event", ""))
        exception = None
        if record.exc_info and record.exc_info[0] is not None:
            exception = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            exception = record.exc_text
        self.write(
            level,
            record.name,
            message,
            fields,
            created=record.created,
            func_name=record.funcName,
            lineno=record.lineno,
            exception=exception,
        )
        # handlers the app configured (a log file, say) see only the redacted record
        record.msg = self._redactor.text(message)
        record.args = None
        for key, value in fields.items():
            setattr(record, key, self._redactor.value(key, value))
        if exception:
            record.exc_info = None
            record.exc_text = self._redactor.text(exception)

    # structlog ------------------------------------------------------------------------------------

    def structlog_processor(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        import structlog

        level = _STRUCTLOG_LEVEL.get(str(event_dict.pop("level", method_name)).lower(), "info")
        if not self.enabled(level):
            raise structlog.DropEvent
        event = event_dict.pop("event", "")
        name = event_dict.pop("logger", None) or event_dict.pop("logger_name", None) or getattr(logger, "name", None)
        func_name = event_dict.pop("func_name", None)
        lineno = event_dict.pop("lineno", None)
        if name is None or func_name is None:
            frame_name = _structlog_caller()
            if frame_name:
                name = name or frame_name[0]
                func_name = func_name or frame_name[1]
                lineno = lineno or frame_name[2]
        event_dict.pop("timestamp", None)
        exception = None
        exc_info = event_dict.pop("exc_info", None)
        if exc_info:
            info = sys.exc_info() if exc_info is True else exc_info
            if isinstance(info, BaseException):
                info = (type(info), info, info.__traceback__)
            if isinstance(info, tuple) and info[0] is not None:
                exception = "".join(traceback.format_exception(*info))
        if "exception" in event_dict and isinstance(event_dict["exception"], str):
            exception = event_dict.pop("exception")
        self.write(
            level,
            str(name or "root"),
            str(event),
            event_dict,
            func_name=func_name,
            lineno=lineno,
            exception=exception,
        )
        raise structlog.DropEvent


def _span_context() -> tuple[str, str] | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


# the libraries whose calls the bootstrap reports: a line it writes for them names the app's frame
_REPORTED_FOR = frozenset({"otelkit_bootstrap", "tenacity", "pybreaker", "aiobreaker"})


def _caller() -> tuple[str, int] | None:
    frame = sys._getframe(2)
    outside: tuple[str, int] | None = None
    while frame is not None:
        top = frame.f_globals.get("__name__", "").split(".", 1)[0]
        if top != "otelkit_bootstrap":
            outside = outside or (frame.f_code.co_name, frame.f_lineno)
            if top not in _REPORTED_FOR:
                return frame.f_code.co_name, frame.f_lineno
        frame = frame.f_back
    return outside


def _structlog_caller() -> tuple[str, str, int] | None:
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (module.startswith("structlog") or module.startswith("otelkit_bootstrap")):
            return module, frame.f_code.co_name, frame.f_lineno
        frame = frame.f_back
    return None


# installation ---------------------------------------------------------------------------------------


def _console_stream(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) and stream in (
        sys.stdout,
        sys.stderr,
        sys.__stdout__,
        sys.__stderr__,
    )


def install_stdlib(sink: Sink, level: str) -> None:
    original_handle = logging.Logger.handle
    original_handler_handle = logging.Handler.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> Any:
        if not getattr(record, _OWN_MARK, False) and not self.disabled:
            setattr(record, _OWN_MARK, True)
            if self.filter(record):
                try:
                    sink.from_record(record)
                except Exception as error:  # the app's logging call must not fail because of the bootstrap
                    sys.stderr.write(f"otelkit: could not write a log record: {error}\n")
        return original_handle(self, record)

    def handler_handle(self: logging.Handler, record: logging.LogRecord) -> Any:
        # the JSON line already went to the console; a second, plain copy would be noise
        if _console_stream(self):
            return record
        return original_handler_handle(self, record)

    logging.Logger.handle = handle  # type: ignore[method-assign]
    logging.Handler.handle = handler_handle  # type: ignore[method-assign]
    root = logging.getLogger()
    if root.level == logging.WARNING:  # the default: the spec's level applies unless the app set one
        root.setLevel(level.upper())
    # logging.lastResort, which prints records of loggers without handlers, is a console handler
    # too, so the app's own basicConfig(level=...) still works as it would without the bootstrap


def install_excepthooks(sink: Sink) -> None:
    """
    An uncaught exception is one critical JSON line (redacted, with the stack) instead of Python's
    raw traceback on stderr; the process then ends as it would have (exit code 1).
    """

    def log_uncaught(kind: type[BaseException], error: BaseException, stack: Any, where: str) -> None:
        # where it was raised: the innermost frame of the traceback
        raised = traceback.extract_tb(stack)[-1] if stack is not None else None
        sink.write(
            "critical",
            "otelkit.uncaught",
            f"uncaught {kind.__name__} in {where}: {error}",
            {"exception.type": kind.__name__},
            func_name=raised.name if raised else None,
            lineno=raised.lineno if raised else None,
            exception="".join(traceback.format_exception(kind, error, stack)),
        )

    original = sys.excepthook

    def excepthook(kind: type[BaseException], error: BaseException, stack: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            return original(kind, error, stack)
        log_uncaught(kind, error, stack, "the main thread")

    original_thread = threading.excepthook

    def thread_excepthook(args: Any) -> None:
        if args.exc_type is SystemExit:
            return original_thread(args)
        name = args.thread.name if args.thread is not None else "a thread"
        log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def install_structlog(sink: Sink) -> None:
    import structlog
    renderers = tuple(
        cls
        for cls in (
            getattr(structlog.processors, "JSONRenderer", None),
            getattr(structlog.processors, "KeyValueRenderer", None),
            getattr(structlog.processors, "LogfmtRenderer", None),
            getattr(structlog.dev, "ConsoleRenderer", None),
        )
        if isinstance(cls, type)
    )

    to_stdlib = getattr(getattr(structlog, "stdlib", None), "ProcessorFormatter", None)
    wrap_for_formatter = getattr(to_stdlib, "wrap_for_formatter", None)

    def chain(processors: Any) -> list[Any]:
        kept = [p for p in (processors or []) if not isinstance(p, renderers) and p is not sink.structlog_processor]
        if kept and wrap_for_formatter is not None and kept[-1] == wrap_for_formatter:
            return kept  # the app hands structlog's events to stdlib logging, where the sink takes them
        return [*kept, sink.structlog_processor]

    original_configure = structlog.configure

    def configure(*args: Any, **kwargs: Any) -> None:
        if "processors" in kwargs:
            kwargs["processors"] = chain(kwargs["processors"])
        elif args:
            args = (chain(args[0]), *args[1:])
        original_configure(*args, **kwargs)

    class NamedLogger:
        """What get_logger("name") returns by default: the name for the line; printing is the sink's."""

        def __init__(self, name: Any = None, *_args: Any) -> None:
            self.name = name if isinstance(name, str) else None

        def __getattr__(self, _method: str) -> Any:
            return lambda *args, **kwargs: None

    structlog.configure = configure  # type: ignore[assignment]
    structlog._config.configure = configure  # configure_once calls it by its module-level name
    defaults = structlog.get_config().get("processors", [])
    original_configure(
        processors=chain([p for p in defaults if not isinstance(p, structlog.processors.TimeStamper)]),
        logger_factory=NamedLogger,
    )
