"""Structured logs: one JSON object per line (``PADDOCK_LOG_FORMAT=json``, the default and
what Kubernetes collects) or one readable line (``console``, what ``make run`` shows).

:func:`configure_logging` installs the formatter on the root logger once per process, so
kit's and the services' own log records come out the same way; the access log
(:class:`kit.middleware.ObservingMiddleware`, logger ``paddock.access``) puts its fields in
``extra={"fields": {...}}``, which both formats show.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "console"]
ACCESS_LOGGER = "paddock.access"
OWN_LOGGERS = ("paddock", "kit", "services", "gateway")
_INSTALLED = "_paddock_handler"


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


_JSON = json.JSONEncoder(default=str)
"""One encoder for every record: ``json.dumps(..., default=str)`` would build one per call."""


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "message": ..., <fields>}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _JSON.encode(entry)


class ConsoleFormatter(logging.Formatter):
    """``20:45:01.123 INFO  identity GET /v1/me 200 3.1ms request_id=... user_id=...``"""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        fields = fields_of(record)
        if record.name == ACCESS_LOGGER and fields:
            fields.pop("event", None)
            text = (
                f"{fields.pop('service', '')} {fields.pop('method', '')} "
                f"{fields.pop('path', '')} {fields.pop('status', '')} "
                f"{fields.pop('duration_ms', '')}ms"
            )
        else:
            text = f"{record.name}: {record.getMessage()}"
        extras = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
        line = f"{when} {record.levelname:<5} {text} {extras}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(log_format: LogFormat = "json", *, level: int = logging.INFO) -> None:
    """Log to stderr in ``log_format`` (once per process; a later call changes the format)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, _INSTALLED, False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        setattr(handler, _INSTALLED, True)
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    # Paddock's own loggers at ``level``; libraries keep the root's (warnings and up).
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
