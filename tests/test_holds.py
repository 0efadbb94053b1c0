"""Held mail does not spin: while a brake holds mail, the loop sleeps until the brake can
lift (or the sweep), and the hold is logged once per change."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import structlog

from askfirst.app import App
from askfirst.clock import FakeClock, SystemClock
from askfirst.loop import _seconds_to_next_due
from askfirst.report import Report
from askfirst.testing.rig import MailRig
from harness import Harness, make_harness, run_daemon
from mails import linkedin_2012

ALICE = "alice@example.test"


def counting(app: App) -> list[Report]:
    """Record every pass the forever loop makes."""
    passes: list[Report] = []
    original = app.run_once

    async def run_once() -> Report:
        report = await original()
        passes.append(report)
        return report

    app.run_once = run_once  # type: ignore[method-assign]
    return passes


async def test_a_kill_switch_hold_sleeps_until_the_sweep_and_logs_once(
    rig: MailRig, tmp_path: Path
) -> None:
    h = make_harness(rig, tmp_path, SystemClock(), poll_interval="1h", sweep_interval="2s")
    h.settings.limits.kill_file.touch()
    h.invite(linkedin_2012("Alice Example", ALICE))
    app, stop = h.build(), asyncio.Event()
    passes = counting(app)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(run_daemon(app, stop))
        await asyncio.sleep(1.5)
        assert len(passes) <= 2  # was a pass every 0.2 s
        assert passes[0].held == 1
        h.settings.limits.kill_file.unlink()
        for _ in range(50):  # the sweep (2 s) looks again and sends
            if rig.messages(ALICE):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert len(rig.messages(ALICE)) == 1
    events = [e["event"] for e in logs]
    assert events.count("outbox.held") == 1
    assert events.count("outbox.released") == 1


async def test_a_cap_hold_wakes_when_the_cap_lifts(h: Harness, clock: FakeClock) -> None:
    h.settings.limits.max_per_hour = 1
    h.invite(linkedin_2012("Alice Example", ALICE))
    h.invite(linkedin_2012("Bob Builder", "bob@example.test"))
    async with h.build() as app:
        report = await app.run_once()
        assert (report.sent, report.held) == (1, 1)
        assert app.outbox.hold is not None and app.outbox.hold.until is not None
        wait = _seconds_to_next_due(app)
        assert wait is not None
        assert timedelta(minutes=59) < timedelta(seconds=wait) <= timedelta(hours=1, seconds=2)
        clock.advance(timedelta(seconds=wait))
        assert (await app.run_once()).sent == 1
        assert app.outbox.hold is None
    assert len(h.inbox("bob@example.test")) == 1
