"""Structured logging: one JSON object per line (or plain text), through the standard library."""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
from typing import Any

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with its ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_extra_fields(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields a record was logged with (error id, path, token name…)."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRS and not key.startswith("_")}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value …``: the same ``extra`` fields as the JSON lines (values quoted when
    they hold a space), so the text format loses nothing of what a line says."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in _extra_fields(record).items())
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # the fields stay on the message's line, before a traceback
        return f"{head} {fields}{newline}{rest}"


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c.isspace() or c in '"=' for c in text)) else text


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route the app's, Litestar's and uvicorn's loggers to stderr in the chosen format."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"()": TextFormatter}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"default": formatter},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default"}},
            "loggers": {
                "mnvault": {"level": level, "handlers": ["stderr"], "propagate": True},
                "uvicorn": {"level": level, "handlers": ["stderr"], "propagate": False},
                "uvicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            },
        }
    )


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"mnvault.{name}")
