"""A lost or new state file never mails anyone twice: the state is read back from
askfirst's own traces in the mailbox (Sent copies, keywords, the inviters' replies)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from askfirst.clock import FakeClock, SystemClock
from askfirst.lifecycle import State
from askfirst.status import status_text
from askfirst.store import Store
from harness import OWNER, Harness
from mails import linkedin_2012, reply

ALICE, BOB, CAROL, DAVE = (f"{n}@example.test" for n in ("alice", "bob", "carol", "dave"))
PEOPLE = (ALICE, BOB, CAROL, DAVE, OWNER)
NOTE = "Hi Pat, we met at the Lyon conference last week; I would love to stay in touch."


@pytest.fixture
def clock() -> FakeClock:
    """In the past: the server files a copy dated in the future at the real time."""
    return FakeClock(SystemClock().now() - timedelta(days=20))


def mail_counts(h: Harness) -> dict[str, int]:
    counts = {who: len(h.inbox(who)) for who in PEOPLE}
    return counts | {"Sent": len(h.inbox(OWNER, "Sent"))}


def states(h: Harness) -> dict[str, tuple[object, ...]]:
    return {
        i.inviter_email: (i.state, i.asked_at, i.decline_due_at, i.asked_message_id)
        for i in h.invitations()
    }


def lose_the_state_file(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


async def test_a_lost_state_file_is_rebuilt_and_nobody_gets_a_second_mail(
    h: Harness, clock: FakeClock
) -> None:
    for name, email in (("Bob Example", BOB), ("Carol Example", CAROL)):
        h.invite(linkedin_2012(name, email))
    h.invite(linkedin_2012("Dave Example", DAVE, note=NOTE))
    await h.step()
    h.invite(reply(h.inbox(BOB)[0].raw, BOB, "Yes, we met at the conference in Lyon."))
    await h.step()
    clock.advance(timedelta(days=7, minutes=1))
    assert (await h.step()).declined == 1  # Carol
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    before, counts = states(h), mail_counts(h)
    assert [before[e][0] for e in (ALICE, BOB, CAROL, DAVE)] == [
        State.ASKED,
        State.ANSWERED,
        State.DECLINED,
        State.HANDED_OVER,
    ]

    lose_the_state_file(h.settings.state.path)
    clock.advance(timedelta(hours=1))
    report = await h.step()
    assert report.sent == 0 and report.invitations == 0
    assert mail_counts(h) == counts  # nobody got a second mail, not even the owner
    after = states(h)
    for email in (ALICE, BOB, CAROL):
        assert after[email] == before[email], email
    assert after[DAVE][0] is State.HANDED_OVER
    store = Store(h.settings.state.path)
    try:
        text = status_text(store, clock.now())
    finally:
        store.close()
    assert "1 asked, 1 answered, 1 declined, 1 handed over" in text
    assert "rebuilt from the mailbox at" in text

    clock.advance(timedelta(days=7))  # Alice's wait, counted from her real ask, runs out
    assert (await h.step()).declined == 1
    assert mail_counts(h) == counts | {ALICE: 2, "Sent": counts["Sent"] + 1}


async def test_a_new_state_on_a_mailbox_without_traces_rebuilds_nothing(h: Harness) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    assert (await h.step()).sent == 1  # an invitation in the lookback window is asked
    store = Store(h.settings.state.path)
    try:
        assert "0 asked, 0 answered, 0 declined, 0 handed over" in status_text(store, h.clock.now())
    finally:
        store.close()
