"""Replicas: the same config started N times shares the accounts through PostgreSQL.

Leases are session advisory locks, so they live exactly as long as a session does:

- a replica's *control* session holds `REPLICA_LOCK`; the live replicas are the holders of
  that lock (no heartbeat rows to expire, no clocks to agree on);
- an account is served by the replica whose *state* session for that account holds its
  `ACCOUNT_LOCK`. The lock and the writes share one session, so a replica that lost an
  account (SIGKILL, lost network, `pg_terminate_backend`) cannot write its state any more,
  and the outbox checks the lock in the transaction that claims a row (`Store.holds_lease`).

Every `tick` a replica lets go of accounts whose lease it lost or whose loop ended, then
of accounts above its fair share, ceil(accounts / live replicas) (each stopped first: the
pass in hand is finished), and takes free accounts up to its share. A dead replica's
sessions are dropped by the server at once (SIGKILL closes the socket) or within ~20 s
(TCP keepalive, see `pgstate.KEEPALIVE`), so its accounts move within one tick after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from askfirst import logs, loop, pgstate
from askfirst.app import App
from askfirst.config import Settings
from askfirst.fleet import Accounts, changed
from askfirst.render import Templates
from askfirst.store import Store, account_key

log = logs.get()
TICK = 5.0
Build = Callable[[Settings, Templates, Store], App]


@dataclass
class Served:
    app: App
    store: Store
    db: pgstate.PgConnection
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def lease_store(
    url: str, settings: Settings, *, dry_run: bool = False
) -> tuple[Store, pgstate.PgConnection] | None:
    """The account's store with its lease held, or None while another replica serves it."""
    db = pgstate.connect(url, account_key(settings, dry_run=dry_run))
    try:
        if not db.try_lease():
            db.close()
            return None
        with db.setting_up():
            return Store(settings.state.path, db=db), db
    except BaseException:
        db.close()
        raise


def unserved(
    url: str, accounts: Sequence[tuple[Settings, Templates]], build: Build, *, dry_run: bool
) -> list[App]:
    """`run --once`: an app for each account that no replica serves now (leased)."""
    apps = []
    for settings, templates in accounts:
        leased = lease_store(url, settings, dry_run=dry_run)
        if leased is None:
            print(f"askfirst: {settings.name or 'default'}: served by another replica")
            continue
        apps.append(build(settings, templates, leased[0]))
    return apps


class Replica:
    """One process's share of the accounts, kept fair while replicas come and go."""

    def __init__(
        self,
        url: str,
        accounts: Sequence[tuple[Settings, Templates]],
        *,
        build: Build,
        dry_run: bool = False,
        tick: float = TICK,
        reload: Callable[[], Accounts | None] | None = None,
    ) -> None:
        self.url, self.accounts, self.build = url, list(accounts), build
        self.dry_run, self.tick, self.reload = dry_run, tick, reload
        self.served: dict[str, Served] = {}
        self.keys = [account_key(s, dry_run=dry_run) for s, _ in self.accounts]
        self.ids: dict[str, int] = {}

    async def run_until_signalled(self) -> None:
        """`run`, until SIGTERM or SIGINT."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.run(stop)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve a fair share until `stop`; on a lost database, let go of all and rejoin."""
        backoff = 1.0
        try:
            while not stop.is_set():
                control: pgstate.Session | None = None
                try:
                    joined = control = await asyncio.to_thread(self._join)
                    backoff = 1.0
                    while not stop.is_set():
                        await self._balance(joined)
                        await _wait(stop, self.tick)
                except pgstate.Error as exc:
                    log.warning("replica.state_lost", error=str(exc), rejoin_in=round(backoff, 1))
                    await self._drop_all("state session lost")
                    await _wait(stop, backoff)
                    backoff = min(backoff * 2, 15.0)
                finally:
                    if control is not None:
                        control.close()
        finally:
            await self._drop_all("stopping")

    def _join(self) -> pgstate.Session:
        control = pgstate.session(self.url, "replica")
        try:
            self.ids = pgstate.register(control, self.keys)
            control.execute(
                "SELECT pg_advisory_lock(%s, pg_backend_pid())", (pgstate.REPLICA_LOCK,)
            )
        except BaseException:
            control.close()
            raise
        log.info("replica.joined", replica=control.info.backend_pid, accounts=len(self.keys))
        return control

    async def _balance(self, control: pgstate.Session) -> None:
        if self.reload is not None and (accounts := self.reload()) is not None:
            await self._retarget(accounts, control)
        rows = await asyncio.to_thread(_locks, control)  # a stalled network stalls no pass
        holders = {int(r[1]): int(r[2]) for r in rows if r[0] == pgstate.ACCOUNT_LOCK}
        live = max(1, sum(1 for r in rows if r[0] == pgstate.REPLICA_LOCK))
        for key, served in list(self.served.items()):
            if served.task is not None and served.task.done():
                await self._drop(key, "loop ended")
            elif holders.get(served.db.account_id) != served.db.pid:
                await self._drop(key, "lease lost")
        share = math.ceil(len(self.keys) / live)
        for key in list(self.served)[share:]:
            await self._drop(key, f"fair share is {share} of {len(self.keys)} on {live} replicas")
        free = [
            (key, account)
            for key, account in zip(self.keys, self.accounts, strict=True)
            if self.ids[key] not in holders and key not in self.served
        ]
        random.shuffle(free)  # replicas joining together do not all reach for the same ones
        for key, (settings, templates) in free:
            if len(self.served) >= share:
                break
            leased = await asyncio.to_thread(lease_store, self.url, settings, dry_run=self.dry_run)
            if leased is not None:
                self._start(key, settings, templates, *leased)

    async def _retarget(self, accounts: Accounts, control: pgstate.Session) -> None:
        """The accounts after a reload: removed or edited ones are let go (an edited one is
        taken again, with its new settings, by whoever has room)."""
        new = {account_key(s, dry_run=self.dry_run): (s, t) for s, t in accounts}
        for key, served in list(self.served.items()):
            if key not in new:
                await self._drop(key, "removed from the configuration")
            elif changed(served.app.settings, new[key][0]):
                await self._drop(key, "changed in the configuration")
        self.ids = await asyncio.to_thread(pgstate.register, control, list(new))
        self.accounts, self.keys = list(new.values()), list(new)

    def _start(
        self,
        key: str,
        settings: Settings,
        templates: Templates,
        store: Store,
        db: pgstate.PgConnection,
    ) -> None:
        served = Served(app=self.build(settings, templates, store), store=store, db=db)
        served.task = asyncio.create_task(_serve(served.app, served.stop))
        self.served[key] = served
        log.info("replica.serves", account=key, session=db.pid)

    async def _drop(self, key: str, why: str) -> None:
        """Stop the account's loop (the pass in hand is finished), then free its lease."""
        served = self.served.pop(key)
        served.stop.set()
        if served.task is not None:
            await served.task
        with contextlib.suppress(pgstate.Error):
            served.store.close()  # closing the session frees the lock
        log.info("replica.released", account=key, why=why)

    async def _drop_all(self, why: str) -> None:
        for key in list(self.served):
            await self._drop(key, why)


def _locks(control: pgstate.Session) -> list[pgstate.Row]:
    """(class, id, session pid) of every account lease and replica lock held now."""
    return control.execute(
        "SELECT classid::bigint, objid::bigint, pid FROM pg_locks "
        "WHERE locktype = 'advisory' AND classid IN (%s, %s) AND objsubid = 2 AND granted",
        (pgstate.ACCOUNT_LOCK, pgstate.REPLICA_LOCK),
    ).fetchall()


async def _serve(app: App, stop: asyncio.Event) -> None:
    """One account's loop; when it fails (its session gone, say) the lease goes back."""
    try:
        async with app:
            await loop.run_forever(app, stop)
    except Exception as exc:
        log.warning("account.stopped", account=app.settings.name or "default", error=repr(exc))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
