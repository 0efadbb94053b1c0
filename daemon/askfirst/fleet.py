"""The accounts of one process: one supervised loop per account, and the accounts that
come and go with the files of `accounts_dir` (or edits of the config) without a restart.

`Reloader` re-reads the configuration only when a file changed (names, sizes, times); a
broken edit is logged and the accounts running now go on. `Fleet` runs the accounts of a
SQLite process; `replicas.Replica` takes the same reloads for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askfirst import logs
from askfirst.app import App
from askfirst.config import ConfigError, Settings
from askfirst.config_loading import accounts_signature
from askfirst.render import Templates

log = logs.get()
RELOAD_EVERY = 5.0
Accounts = list[tuple[Settings, Templates]]


class Reloader:
    def __init__(self, path: Path, load: Callable[[Path], Accounts]) -> None:
        self.path, self.load = path, load
        self.signature = accounts_signature(path)

    def __call__(self) -> Accounts | None:
        """The accounts, when the configuration changed since the last call; else None."""
        signature = accounts_signature(self.path)
        if signature == self.signature:
            return None
        self.signature = signature
        try:
            accounts = self.load(self.path)
        except ConfigError as exc:
            log.warning("config.reload_failed", problems=exc.problems, keeps="running accounts")
            return None
        log.info("config.reloaded", accounts=len(accounts))
        return accounts


def changed(old: Settings, new: Settings) -> bool:
    return old.model_dump() != new.model_dump()


@dataclass
class Running:
    settings: Settings
    stop: asyncio.Event
    task: asyncio.Task[None]


class Fleet:
    """Every account of the config in this process (the SQLite state)."""

    def __init__(
        self,
        accounts: Sequence[tuple[Settings, Templates]],
        *,
        build: Callable[[Settings, Templates], App],
        serve: Callable[[App, asyncio.Event], Coroutine[Any, Any, None]],
        reload: Callable[[], Accounts | None] | None = None,
        every: float = RELOAD_EVERY,
    ) -> None:
        self.accounts, self.build, self.serve = list(accounts), build, serve
        self.reload, self.every = reload, every
        self.running: dict[str, Running] = {}
        self.started = False

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._sync(self.accounts)
            self.started = True
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.every)
                if self.reload is not None and (accounts := self.reload()) is not None:
                    await self._sync(accounts)
        finally:
            for name in list(self.running):
                await self._stop(name, "stopping")

    async def _sync(self, accounts: Accounts) -> None:
        wanted = {settings.name or "default": (settings, t) for settings, t in accounts}
        for name, running in list(self.running.items()):
            if name not in wanted:
                await self._stop(name, "removed from the configuration")
            elif changed(running.settings, wanted[name][0]):
                await self._stop(name, "changed in the configuration")
        for name, (settings, templates) in wanted.items():
            if name not in self.running:
                stop, before = asyncio.Event(), settings.model_copy(deep=True)
                try:
                    app = self.build(settings, templates)
                except Exception as exc:  # e.g. its state file is another process's
                    if not self.started:
                        raise  # at start: the command says it (a state error exits 2)
                    log.error(  # noqa: TRY400 - the reason is the message, not a traceback
                        "account.not_started", account=name, error=str(exc)
                    )
                    continue
                task = asyncio.create_task(self.serve(app, stop))
                self.running[name] = Running(before, stop, task)
                log.info("account.started", account=name)

    async def _stop(self, name: str, why: str) -> None:
        running = self.running.pop(name)
        running.stop.set()
        await running.task
        log.info("account.stopped", account=name, why=why)
