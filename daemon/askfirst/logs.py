"""Logging: structlog events (`"invitation.asked"`, with fields), one line each.

JSON lines when stderr is not a terminal (containers, journald), a readable console line
otherwise. Third-party stdlib loggers (imapclient, aiosmtplib, apscheduler) go through the
same formatter. Every configured secret is masked wherever it would appear.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

MASK = "********"
_hidden: set[str] = set()


def hide(secret: str) -> None:
    """Mask this value from now on wherever it would appear (e.g. a fresh OAuth2 token)."""
    if len(secret) >= 3:
        _hidden.add(secret)


def get(name: str = "askfirst") -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


def configure(
    *, verbose: bool = False, json: bool | None = None, secrets: Iterable[str] = ()
) -> None:
    as_json = not sys.stderr.isatty() if json is None else json
    for secret in secrets:
        hide(secret)

    def mask(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str) and any(s in value for s in _hidden):
                for secret in _hidden:
                    value = value.replace(secret, MASK)
                event[key] = value
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.format_exc_info,
        mask,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("imapclient", "apscheduler", "aiosmtplib", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # imapclient DEBUG logs mail content
