"""`run_forever` in-process: IDLE and polling wake-ups, reconnects, and a clean stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from askfirst.clock import SystemClock
from askfirst.testing.rig import MailRig
from harness import OWNER, make_harness, run_daemon
from mails import linkedin_2012

ALICE = "alice@example.test"
BOB = "bob@example.test"


async def wait_for_mail(rig: MailRig, user: str, count: int, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if len(rig.messages(user)) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user}: fewer than {count} message(s) after {timeout} s")


async def test_polling_when_idle_is_off(rig: MailRig, tmp_path: Path) -> None:
    h = make_harness(rig, tmp_path, SystemClock(), poll_interval="1s", sweep_interval="1h")
    h.settings.imap.idle = False
    app, stop = h.build(), asyncio.Event()
    task = asyncio.create_task(run_daemon(app, stop))
    await asyncio.sleep(0.5)
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    await wait_for_mail(rig, ALICE, 1)
    rig.deliver(linkedin_2012("Bob Builder", BOB), OWNER)
    await wait_for_mail(rig, BOB, 1)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_idle_survives_a_kicked_connection(rig: MailRig, tmp_path: Path) -> None:
    h = make_harness(rig, tmp_path, SystemClock(), poll_interval="1h", sweep_interval="1h")
    app, stop = h.build(), asyncio.Event()
    task = asyncio.create_task(run_daemon(app, stop))
    await asyncio.sleep(0.5)
    rig.kick(OWNER)  # both connections get BYE
    await asyncio.sleep(0.2)
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    await wait_for_mail(rig, ALICE, 1, timeout=15)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_mail_that_lands_after_the_passs_last_command_is_news(
    rig: MailRig, tmp_path: Path
) -> None:
    """Between a pass and its IDLE, nothing would tell of it: Dovecot's IDLE only reports
    what it notices once idling (or at its 30 s check), so the loop asks before it idles."""
    h = make_harness(rig, tmp_path, SystemClock(), poll_interval="1h", sweep_interval="1h")
    async with h.build() as app:
        await app.run_once()
        assert not await app.mailbox.take_news()
        rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
        assert await app.mailbox.take_news()
        assert not await app.mailbox.take_news()  # told once
        report = await app.run_once()
    assert report.invitations == 1
