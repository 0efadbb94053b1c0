"""lifecycle.transition: every row of the state table, and nothing outside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from askfirst.events import (
    Answered,
    AskSent,
    Cancelled,
    DeadlinePassed,
    Detected,
    Event,
    Flag,
    Notify,
    Send,
    SendFailed,
)
from askfirst.lifecycle import (
    FLAGGED,
    KW_ANSWERED,
    KW_ASKED,
    KW_DECLINED,
    KW_HANDOVER,
    Invitation,
    Result,
    State,
    transition,
)
from askfirst.mails import MailKind
from askfirst.rules import Decision

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
SOURCE = "<invitation@example.net>"
ANSWER = "<answer@example.net>"

ASK = Decision("ask", "boilerplate", ("own-address: miss", "boilerplate: hit, ... -> ask"))
HAND_OVER = Decision(
    "hand_over", "personal-note", ("own-address: miss", "personal-note: hit, a note -> hand_over")
)
IGNORE = Decision("ignore", "recently-asked", ("recently-asked: hit, asked lately -> ignore",))


def new() -> Invitation:
    return Invitation(
        source_message_id=SOURCE,
        network="linkedin",
        inviter_name="Sam Sample",
        inviter_email="sam@example.net",
    )


def step(inv: Invitation, event: Event, now: datetime = T0) -> Result:
    return transition(inv, event, now, WEEK)


def asked() -> Invitation:
    """Asked, and the ask left at T0."""
    return step(step(new(), Detected(ASK))[0], AskSent(T0, T0 + WEEK))[0]


def declined() -> Invitation:
    return step(asked(), DeadlinePassed(), T0 + WEEK)[0]


def genuine(mid: str = ANSWER) -> Answered:
    return Answered(message_id=mid, kind="genuine", reason="a person's reply")


# -- (new) ---------------------------------------------------------------------------------


def test_new_boilerplate_is_asked_with_a_deadline() -> None:
    inv, effects = step(new(), Detected(ASK))

    assert inv.state is State.ASKED
    assert inv.reason == "boilerplate"
    assert inv.asked_at is None and inv.decline_due_at is None  # the ask has not left yet
    assert effects == [Send(MailKind.ASK, "sam@example.net"), Flag(SOURCE, (KW_ASKED,))]


def test_the_wait_starts_when_the_ask_leaves() -> None:
    held = step(new(), Detected(ASK))[0]
    later = T0 + timedelta(days=9)
    assert step(held, DeadlinePassed(), later) == (held, [])  # held for days: no decline
    inv, _ = step(held, AskSent(later, later + WEEK), later)
    assert (inv.asked_at, inv.decline_due_at) == (later, later + WEEK)


def test_new_personal_or_unreachable_is_handed_over() -> None:
    inv, effects = step(new(), Detected(HAND_OVER))

    assert inv.state is State.HANDED_OVER
    assert inv.reason == "personal-note: hit, a note -> hand_over"
    assert inv.handed_over_at == T0
    assert inv.asked_at is None and inv.decline_due_at is None
    assert effects == [
        Flag(SOURCE, (FLAGGED, KW_HANDOVER)),
        Notify(inv.reason, flagged=("the invitation",)),
    ]


def test_hand_over_without_reasons_uses_the_rule_name() -> None:
    inv, effects = step(new(), Detected(Decision("hand_over", "unreachable", ())))
    assert inv.reason == "unreachable"
    assert Notify("unreachable", flagged=("the invitation",)) in effects


def test_new_refused_by_a_gate_is_skipped_silently() -> None:
    inv, effects = step(new(), Detected(IGNORE))
    assert inv.state is State.SKIPPED
    assert inv.reason == "recently-asked: hit, asked lately -> ignore"
    assert effects == []


def test_other_events_on_a_new_invitation_do_nothing() -> None:
    for event in (genuine(), DeadlinePassed(), SendFailed(MailKind.ASK, "550")):
        assert step(new(), event) == (new(), [])


# -- asked ---------------------------------------------------------------------------------


def test_asked_then_a_genuine_answer_is_answered() -> None:
    later = T0 + timedelta(days=2)
    inv, effects = step(asked(), genuine(), later)

    assert inv.state is State.ANSWERED
    assert inv.reason == "the inviter answered"
    assert inv.answered_at == later
    assert effects == [
        Flag(SOURCE, (FLAGGED, KW_ANSWERED)),
        Flag(ANSWER, (FLAGGED, KW_ANSWERED)),
        Notify("the inviter answered", flagged=("the invitation", "their answer")),
    ]


def test_an_out_of_office_leaves_asked_unchanged() -> None:
    before = asked()
    automatic = Answered(message_id=ANSWER, kind="automatic", reason="Auto-Submitted")
    assert step(before, automatic, T0 + timedelta(days=1)) == (before, [])


def test_a_bounced_ask_fails_and_tells_the_owner() -> None:
    bounce = Answered(message_id="<dsn@mx>", kind="bounce", reason="multipart/report")
    inv, effects = step(asked(), bounce, T0 + timedelta(minutes=5))

    assert inv.state is State.FAILED
    assert inv.reason == "the ask bounced: multipart/report"
    assert effects == [
        Flag(SOURCE, (FLAGGED,)),
        Flag("<dsn@mx>", (FLAGGED,)),
        Notify(inv.reason, flagged=("the invitation", "the delivery report")),
    ]


@pytest.mark.parametrize("early", [timedelta(0), timedelta(days=6, hours=23, seconds=59)])
def test_a_deadline_before_the_due_time_does_nothing(early: timedelta) -> None:
    before = asked()
    assert step(before, DeadlinePassed(), T0 + early) == (before, [])


@pytest.mark.parametrize("late", [WEEK, WEEK + timedelta(days=3)])
def test_the_deadline_at_or_after_the_due_time_declines(late: timedelta) -> None:
    inv, effects = step(asked(), DeadlinePassed(), T0 + late)

    assert inv.state is State.DECLINED
    assert inv.reason == "no answer in time"
    assert inv.declined_at == T0 + late
    assert effects == [Send(MailKind.DECLINE, "sam@example.net"), Flag(SOURCE, (KW_DECLINED,))]


def test_a_deadline_without_a_due_time_does_nothing() -> None:
    odd = replace(asked(), decline_due_at=None)
    assert step(odd, DeadlinePassed(), T0 + 10 * WEEK) == (odd, [])


def test_an_ask_that_cannot_be_sent_fails_and_tells_the_owner() -> None:
    inv, effects = step(asked(), SendFailed(MailKind.ASK, "550 no such user"))
    assert inv.state is State.FAILED
    assert inv.reason == "the ask could not be sent: 550 no such user"
    assert effects == [Notify("the ask could not be sent: 550 no such user")]


def test_asked_ignores_a_failed_decline_and_a_second_detection() -> None:
    before = asked()
    assert step(before, SendFailed(MailKind.DECLINE, "550")) == (before, [])
    assert step(before, Detected(ASK), T0 + timedelta(days=1)) == (before, [])
    assert step(before, Detected(HAND_OVER)) == (before, [])


# -- declined ------------------------------------------------------------------------------


def test_a_late_genuine_answer_after_the_decline_is_answered() -> None:
    later = T0 + WEEK + timedelta(days=1)
    inv, effects = step(declined(), genuine(), later)

    assert inv.state is State.ANSWERED
    assert inv.reason == "answered after the decline was sent"
    assert inv.answered_at == later
    assert inv.declined_at == T0 + WEEK  # history kept
    assert Notify(inv.reason, flagged=("the invitation", "their answer")) in effects
    assert Flag(ANSWER, (FLAGGED, KW_ANSWERED)) in effects


def test_a_decline_that_cannot_be_sent_fails() -> None:
    inv, effects = step(declined(), SendFailed(MailKind.DECLINE, "552 mailbox full"))
    assert inv.state is State.FAILED
    assert inv.reason == "the decline could not be sent: 552 mailbox full"
    assert effects == [Notify(inv.reason)]


@pytest.mark.parametrize(
    "event",
    [
        DeadlinePassed(),
        Answered("<ooo@x>", "automatic", "out of office"),
        Answered("<dsn@x>", "bounce", "multipart/report"),
        SendFailed(MailKind.ASK, "late report"),
        Detected(ASK),
    ],
    ids=["deadline", "automatic", "bounce", "ask-failed", "detected"],
)
def test_declined_ignores_everything_else(event: Event) -> None:
    before = declined()
    assert step(before, event, T0 + 3 * WEEK) == (before, [])


# -- final states: replay is harmless ------------------------------------------------------

ALL_EVENTS: list[Event] = [
    Detected(ASK),
    Detected(HAND_OVER),
    Detected(IGNORE),
    genuine(),
    Answered(ANSWER, "automatic", "ooo"),
    Answered(ANSWER, "bounce", "dsn"),
    DeadlinePassed(),
    SendFailed(MailKind.ASK, "550"),
    SendFailed(MailKind.DECLINE, "550"),
]


def final_states() -> list[Invitation]:
    answered = step(asked(), genuine())[0]
    handed_over = step(new(), Detected(HAND_OVER))[0]
    skipped = step(new(), Detected(IGNORE))[0]
    failed = step(asked(), SendFailed(MailKind.ASK, "550"))[0]
    return [answered, handed_over, skipped, failed]


# Every final state against every event, except an answer after a failure: that one reaches
# the owner (tested below).
FINAL_PAIRS = [
    pytest.param(final, event, id=f"{final.state}-{type(event).__name__}")
    for final in final_states()
    for event in ALL_EVENTS
    if not (final.state is State.FAILED and event == genuine())
]


@pytest.mark.parametrize(("final", "event"), FINAL_PAIRS)
def test_a_final_state_never_changes_and_yields_no_effects(final: Invitation, event: Event) -> None:
    assert step(final, event, T0 + 10 * WEEK) == (final, [])


@pytest.mark.parametrize(
    "earlier",
    [
        Answered("<dsn@mx>", "bounce", "delivery report: failed"),
        SendFailed(MailKind.ASK, "550"),
    ],
    ids=["bounced", "send-failed"],
)
def test_an_answer_after_a_failure_reaches_the_owner(earlier: Event) -> None:
    failed = step(asked(), earlier)[0]
    inv, effects = step(failed, genuine(), T0 + timedelta(days=2))
    assert inv.state is State.ANSWERED
    assert inv.reason.startswith("the inviter answered, although askfirst had noted: the ask")
    assert Flag(ANSWER, (FLAGGED, KW_ANSWERED)) in effects
    assert Notify(inv.reason, flagged=("the invitation", "their answer")) in effects


def test_an_answer_after_a_cancelled_draft_reaches_the_owner() -> None:
    cancelled = step(asked(), Cancelled(MailKind.ASK))[0]
    inv, effects = step(cancelled, genuine())
    assert inv.state is State.ANSWERED
    assert Notify(inv.reason, flagged=("the invitation", "their answer")) in effects


@pytest.mark.parametrize("action", ["delayed", "relayed", "delivered", "expanded"])
def test_delivery_news_that_is_not_a_failure_changes_nothing(action: str) -> None:
    before = asked()
    news = Answered("<dsn@mx>", "report", f"delivery report: {action} for sam@example.net")
    assert step(before, news) == (before, [])


def test_the_final_states_cover_the_final_enum_members() -> None:
    assert {inv.state for inv in final_states()} == {
        State.ANSWERED,
        State.HANDED_OVER,
        State.SKIPPED,
        State.FAILED,
    }


def test_replaying_the_same_answer_is_harmless() -> None:
    answered, first_effects = step(asked(), genuine())
    assert first_effects
    assert step(answered, genuine(), T0 + timedelta(days=1)) == (answered, [])


def test_transition_does_not_mutate_its_input() -> None:
    original = new()
    step(original, Detected(ASK))
    assert original.state is None and original.asked_at is None


@pytest.mark.parametrize("before", [asked, declined])
def test_a_strangers_reply_tells_the_owner_and_changes_nothing(
    before: Callable[[], Invitation],
) -> None:
    inv = before()
    why = "someone else replied in the thread (eve@example.org, not the inviter sam@example.net)"
    after, effects = step(inv, Answered(ANSWER, "stranger", why), T0 + timedelta(days=1))
    assert after == inv
    assert effects == [Notify(why, not_their_answer=True)]
