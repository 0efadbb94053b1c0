"""Any error in a pass is survived; a busy or full state file is retried, never a lost
invitation; refused logins are not hammered; the clock may jump or run ahead."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from askfirst import logs, loop
from askfirst.app import App
from askfirst.clock import FakeClock
from askfirst.config_loading import load_settings
from askfirst.lifecycle import State
from askfirst.metrics import FAILED_PASSES_UNHEALTHY, Metrics
from askfirst.status import health_of
from askfirst.store import StateBusy, Store
from askfirst.testing.rig import MailRig
from harness import OWNER, Harness, askfirst, write_config
from mails import linkedin_2012

ALICE = "alice@example.test"


def events(text: str) -> list[dict[str, object]]:
    """The JSON log lines in captured output (other output, if any, is skipped)."""
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "event" in record:
                found.append(record)
    return found


async def stop_soon(app: App, task: asyncio.Task[None], stop: asyncio.Event) -> float:
    """Stop the loop; how long it took to end (the IDLE watcher must never block it)."""
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 15)
    app.store.close()
    return time.monotonic() - started


async def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_any_error_in_a_pass_is_logged_counted_and_retried(
    h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(json=True)  # to this test's stderr (a CLI run may have bound another)
    app = h.build()
    sweep, calls = app._sweep, []

    def broken_once(report: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the sweep")
        sweep(report)  # type: ignore[arg-type]

    app._sweep = broken_once  # type: ignore[method-assign]
    h.invite(linkedin_2012("Alice Example", ALICE))
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run_forever(app, stop))
    await wait_until(lambda: len(calls) >= 2 and app.metrics.failed_in_row == 0)
    assert await stop_soon(app, task, stop) < 8
    failed = [e for e in events(capsys.readouterr().err) if e["event"] == "pass.failed"]
    assert len(failed) == 1 and "a bug in the sweep" in str(failed[0]["error"])
    assert len(h.rig.messages(ALICE)) == 1  # the mail of the failed pass was kept and asked
    assert app.metrics.pass_failures.labels("RuntimeError")._value.get() == 1


def test_failing_passes_make_the_daemon_unhealthy(h: Harness) -> None:
    metrics = Metrics(stale_after=600)
    metrics.pass_completed()
    for _ in range(FAILED_PASSES_UNHEALTHY):
        metrics.pass_failed(RuntimeError("x"))
    assert metrics.healthy() == (False, f"the last {FAILED_PASSES_UNHEALTHY} passes failed")
    store = Store(h.settings.state.path)
    with store.transaction():
        store.facts.last_pass_at = h.clock.now() + timedelta(seconds=10**6)
        store.facts.imap_connected = True
        store.facts.failed_passes = FAILED_PASSES_UNHEALTHY
        store.facts.last_error = "RuntimeError: x"
    store.close()
    assert health_of(h.settings) == 1


async def test_a_locked_state_file_is_retried_and_the_invitation_asked_once(h: Harness) -> None:
    app = h.build()
    app.store._db.execute("PRAGMA busy_timeout = 200")  # the test need not wait 5 s
    h.invite(linkedin_2012("Alice Example", ALICE))
    holder = sqlite3.connect(h.settings.state.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateBusy):
            await app.run_once()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    report = await app.run_once()
    await app.mailbox.close()
    app.store.close()
    assert report.errors == 0 and report.invitations == 1
    assert h.only_invitation().state is State.ASKED
    assert len(h.rig.messages(ALICE)) == 1
    assert "$askfirst-error" not in h.inbox(OWNER)[0].flags


async def passes(app: App, n: int) -> None:
    for _ in range(n):
        await app.run_once()


async def test_a_full_disk_is_retried_and_the_invitation_asked_once(h: Harness) -> None:
    app = h.build()
    await app.run_once()
    pages = app.store._db.execute("PRAGMA page_count").fetchone()[0]
    app.store._db.execute(f"PRAGMA max_page_count = {pages}")  # the volume is full
    for n in range(3):
        h.invite(linkedin_2012(f"Person Number{n}", f"inviter{n + 1:02d}@example.test"))
    with pytest.raises(StateBusy, match="full"):
        await passes(app, 3)  # the first mails may still fit into free pages
    app.store._db.execute("PRAGMA max_page_count = 1073741823")  # space again
    await app.run_once()
    await app.mailbox.close()
    app.store.close()
    assert [len(h.rig.messages(f"inviter{n + 1:02d}@example.test")) for n in range(3)] == [1, 1, 1]
    assert all("$askfirst-error" not in m.flags for m in h.inbox(OWNER))


async def test_a_refused_login_backs_off_to_minutes_and_marks_the_account_unhealthy(
    h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(json=True)  # to this test's stderr (a CLI run may have bound another)
    h.settings.imap.password = h.settings.imap.password.__class__("wrong")
    app = h.build()
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run_forever(app, stop))
    await asyncio.sleep(2.5)
    assert await stop_soon(app, task, stop) < 5
    refused = [e for e in events(capsys.readouterr().err) if e["event"] == "imap.login_refused"]
    assert len(refused) == 1  # one attempt in 2.5 s, logged once
    assert refused[0]["retry_in"] == 120
    assert health_of(h.settings) == 1
    assert "unhealthy" in capsys.readouterr().out


def test_check_tries_each_server_once(h: Harness, tmp_path: Path) -> None:
    config = write_config(h.rig, tmp_path / "c")
    config.write_text(config.read_text().replace(h.rig.password(OWNER), "wrong"))
    result = askfirst("check", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout.count("imap: FAILED") == 1
    assert "Traceback" not in result.stderr


async def test_a_floor_fixed_while_the_clock_ran_ahead_hides_no_later_mail(
    h: Harness, clock: FakeClock
) -> None:
    real = clock.now()
    clock.advance(timedelta(days=30))  # first start with the clock a month ahead
    await h.step()
    clock.set(real)  # corrected
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()
    assert report.invitations == 1, report.outcomes
    assert len(h.rig.messages(ALICE)) == 1


async def test_a_clock_jump_is_logged_and_declines_wait_for_the_caps(
    rig: MailRig, tmp_path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(json=True)  # to this test's stderr (a CLI run may have bound another)
    settings = load_settings(write_config(rig, tmp_path))
    settings.limits.max_per_hour = 3
    h = Harness(rig, settings, clock)
    inviters = [f"inviter{n + 1:02d}@example.test" for n in range(5)]
    for n, inviter in enumerate(inviters):
        h.invite(linkedin_2012(f"Person Number{n}", inviter))
    app = h.build()
    await app.run_once()
    clock.advance(timedelta(hours=2))  # the asks leave the hourly window
    await app.run_once()
    clock.advance(timedelta(days=365))  # a jump far past every deadline
    report = await app.run_once()
    await app.mailbox.close()
    app.store.close()
    assert any(e["event"] == "clock.jumped" for e in events(capsys.readouterr().err))
    assert report.sent <= 3 and report.held >= 2  # the caps apply to the declines too
    assert sum(len(rig.messages(i)) for i in inviters) <= 5 + 3
