"""One SMTP connection per sending pass, against the real rig: the mails of a pass share
it, a refused mail does not end it, a connection the server closed or lost is replaced
(and nothing goes twice), and a pass that sends nothing opens none."""

from __future__ import annotations

import pytest

from askfirst.lifecycle import State
from askfirst.mails import OutboxState
from askfirst.store import Store
from harness import Harness
from mails import linkedin_2012, plain

INVITERS = tuple(f"inviter{i:02d}@example.test" for i in range(1, 7))
NOBODY = "nobody@example.test"  # no user of the rig's server: 550 to RCPT TO


def invite(h: Harness, *addresses: str) -> None:
    for i, address in enumerate(addresses):
        h.invite(linkedin_2012(f"Pat Inviter{i}", address))


def asks(h: Harness, *addresses: str) -> list[int]:
    """How many mails each address received."""
    return [len(h.inbox(a)) for a in addresses]


async def test_the_mails_of_a_pass_share_one_connection(h: Harness) -> None:
    invite(h, *INVITERS)
    report = await h.step()
    assert report.sent == len(INVITERS)
    assert asks(h, *INVITERS) == [1] * len(INVITERS)
    assert h.rig.smtp_connections == 1


async def test_a_refused_recipient_does_not_end_the_session(h: Harness) -> None:
    invite(h, INVITERS[0], NOBODY, INVITERS[1])
    report = await h.step()
    assert (report.sent, report.failed) == (3, 1)  # two asks and the owner's notice
    assert asks(h, INVITERS[0], INVITERS[1]) == [1, 1]
    states = {i.inviter_email: i.state for i in h.invitations()}
    assert states[NOBODY] is State.FAILED
    assert h.rig.smtp_connections == 1


@pytest.mark.parametrize("say_421", [True, False])
async def test_a_connection_the_server_closed_between_mails_is_replaced(
    h: Harness, say_421: bool
) -> None:
    h.rig.faults.hang_up_after_data(say_421=say_421)  # the first mail is answered, then closed
    invite(h, *INVITERS[:4])
    report = await h.step()
    assert (report.sent, report.retried, report.failed) == (4, 0, 0)
    assert asks(h, *INVITERS[:4]) == [1, 1, 1, 1]
    assert len(h.rig.accepted) == 4
    assert h.rig.smtp_connections == 2


async def test_a_421_to_mail_from_on_a_kept_connection_gets_one_new_connection(
    h: Harness,
) -> None:
    h.rig.faults.fail_next(421, "4.4.2 idle too long", stage="MAIL", after=1)
    invite(h, *INVITERS[:3])
    report = await h.step()
    assert (report.sent, report.retried, report.failed) == (3, 0, 0)
    assert asks(h, *INVITERS[:3]) == [1, 1, 1]
    assert h.rig.smtp_connections == 2


async def test_a_connection_lost_during_data_leaves_that_mail_uncertain_the_next_reconnect(
    h: Harness,
) -> None:
    h.rig.faults.drop_after_data()  # the first mail is delivered, its reply never comes
    invite(h, *INVITERS[:3])
    report = await h.step()
    assert (report.sent, report.failed) == (3, 1)  # two asks and the owner's notice
    assert asks(h, *INVITERS[:3]) == [1, 1, 1]  # the server had the first: nothing twice
    store = Store(h.settings.state.path)
    try:
        (unsure,) = store.outbox((OutboxState.UNCERTAIN,))
    finally:
        store.close()
    assert unsure.recipient == INVITERS[0]
    assert h.rig.smtp_connections == 2


async def test_a_pass_with_nothing_to_send_opens_no_connection(h: Harness) -> None:
    h.invite(plain("Sam Sample <sam@example.net>"))
    report = await h.step()
    assert report.fetched == 1 and report.sent == 0
    assert h.rig.smtp_connections == 0


async def test_held_mail_opens_no_connection(h: Harness) -> None:
    h.settings.limits.kill_file.touch()
    invite(h, INVITERS[0])
    assert (await h.step()).held == 1
    assert h.rig.smtp_connections == 0


async def test_mail_waiting_for_approval_opens_no_connection(h: Harness) -> None:
    h.settings.mode = "approve"
    invite(h, INVITERS[0])
    assert (await h.step()).awaiting == 1
    assert h.rig.smtp_connections == 0


async def test_a_dry_run_opens_no_connection(h: Harness) -> None:
    invite(h, INVITERS[0])
    app = h.build()
    app.dry_run = True
    try:
        assert (await app.run_once()).sent == 1
    finally:
        await app.mailbox.close()
        app.store.close()
    assert h.rig.smtp_connections == 0
