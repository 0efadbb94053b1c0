"""lifecycle.transition for invitations the owner asks by hand: every row, and nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from askfirst.events import (
    Answered,
    ByHandStarted,
    DeadlinePassed,
    Event,
    Flag,
    NetworkMessage,
    Notify,
    OwnerStepsOut,
    ReminderDue,
    Send,
)
from askfirst.lifecycle import (
    FLAGGED,
    KW_ANSWERED,
    KW_BY_HAND,
    KW_REMINDED,
    Invitation,
    Result,
    State,
    transition,
)
from askfirst.rules import Decision

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
SOURCE = "<invitation@linkedin.example>"
NOTICE = "<notification@linkedin.example>"
UNREACHABLE = Decision("hand_over", "unreachable", ("unreachable: hit, no address -> hand_over",))


def step(inv: Invitation, event: Event, now: datetime = T0) -> Result:
    return transition(inv, event, now, WEEK)


def by_hand() -> Invitation:
    new = Invitation(SOURCE, "linkedin", "Ingrid Solheim", "invitations@linkedin.com")
    return step(new, ByHandStarted(UNREACHABLE))[0]


def test_the_owner_gets_one_notice_and_the_clock_starts() -> None:
    new = Invitation(SOURCE, "linkedin", "Ingrid Solheim", "invitations@linkedin.com")
    after, effects = step(new, ByHandStarted(UNREACHABLE))
    assert after.state is State.BY_HAND
    assert after.handed_over_at == T0 and after.decline_due_at == T0 + WEEK
    assert effects[0] == Flag(SOURCE, (FLAGGED, KW_BY_HAND))
    assert isinstance(effects[1], Notify) and effects[1].template == "byhand"
    assert not any(isinstance(e, Send) for e in effects)  # never a mail to the network


def test_a_business_day_deadline_comes_in_as_data() -> None:
    new = Invitation(SOURCE, "linkedin", "Ingrid Solheim", "invitations@linkedin.com")
    due = T0 + timedelta(days=9)
    assert step(new, ByHandStarted(UNREACHABLE, due))[0].decline_due_at == due


@pytest.mark.parametrize("state", [State.BY_HAND, State.REMINDED])
def test_the_networks_notification_is_the_answer(state: State) -> None:
    inv = replace(by_hand(), state=state)
    after, effects = step(inv, NetworkMessage(NOTICE, "LinkedIn says Ingrid wrote"), T0)
    assert after.state is State.ANSWERED and after.answered_at == T0
    assert "LinkedIn says Ingrid wrote" in after.reason
    assert Flag(SOURCE, (FLAGGED, KW_ANSWERED)) in effects
    assert Flag(NOTICE, (FLAGGED, KW_ANSWERED)) in effects
    (notice,) = [e for e in effects if isinstance(e, Notify)]
    assert notice.template == "handover"


def test_the_reminder_comes_once_and_only_when_due() -> None:
    inv = by_hand()
    assert step(inv, ReminderDue(), T0 + WEEK - timedelta(seconds=1)) == (inv, [])
    reminded, effects = step(inv, ReminderDue(), T0 + WEEK)
    assert reminded.state is State.REMINDED
    assert effects == [Flag(SOURCE, (KW_REMINDED,)), Notify(reminded.reason, "remind")]
    assert step(reminded, ReminderDue(), T0 + 2 * WEEK) == (reminded, [])  # never a second


@pytest.mark.parametrize("state", [State.BY_HAND, State.REMINDED])
def test_the_owner_steps_out(state: State) -> None:
    inv = replace(by_hand(), state=state)
    after, effects = step(inv, OwnerStepsOut("you took the flag off the invitation"))
    assert after.state is State.CANCELLED and effects == []
    assert after.reason == "you took the flag off the invitation"
    assert step(after, NetworkMessage(NOTICE, "late"), T0) == (after, [])
    assert step(after, ReminderDue(), T0 + WEEK) == (after, [])


@pytest.mark.parametrize(
    "event",
    [
        DeadlinePassed(),
        Answered("<x@example.net>", "genuine", "reply"),
        ByHandStarted(UNREACHABLE),
    ],
)
def test_nothing_else_moves_a_by_hand_invitation(event: Event) -> None:
    inv = by_hand()
    assert step(inv, event, T0 + 2 * WEEK) == (inv, [])


@pytest.mark.parametrize("state", [State.ASKED, State.ANSWERED, State.HANDED_OVER])
def test_by_hand_events_leave_other_states_alone(state: State) -> None:
    inv = replace(by_hand(), state=state)
    for event in (NetworkMessage(NOTICE, "x"), ReminderDue(), OwnerStepsOut("x")):
        assert step(inv, event, T0 + 2 * WEEK) == (inv, [])
