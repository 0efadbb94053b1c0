"""The owner's controls against the real rig: send windows, jitter, business days,
out-of-office return dates, allow and deny lists, template sets and languages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from askfirst.testing.rig import MailRig
from harness import Harness, load
from mails import direct_invite, linkedin_2012, reply

ALICE = "alice@example.test"
BOB = "bob@example.test"
MONDAY_7 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 in Berlin


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_7)


async def test_send_window_holds_the_ask_until_it_opens(h: Harness, clock: FakeClock) -> None:
    h.settings.owner.timezone = "Europe/Berlin"
    h.settings.lifecycle.send_window = "Mon-Fri 09:00-18:00"
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    assert h.inbox(ALICE) == []
    assert h.only_invitation().state is State.ASKED  # decided, waiting for the window
    clock.advance(timedelta(minutes=59))
    await h.step()
    assert h.inbox(ALICE) == []
    clock.advance(timedelta(minutes=2))  # 09:01 Berlin
    assert (await h.step()).sent == 1
    inv = h.only_invitation()
    assert inv.asked_at == clock.now().replace(microsecond=0)  # the wait counts from sending
    assert inv.asked_at is not None
    assert inv.decline_due_at == inv.asked_at + timedelta(days=7)


async def test_jitter_delays_within_the_bound(h: Harness, clock: FakeClock) -> None:
    h.settings.lifecycle.send_jitter = timedelta(minutes=10)
    app = h.build()
    app.effects.rnd = random.Random(7)
    h.invite(linkedin_2012("Alice Example", ALICE))
    await app.run_once()
    await app.mailbox.close()
    app.store.close()
    sent_at = None
    for minute in range(11):
        if h.inbox(ALICE):
            sent_at = minute
            break
        clock.advance(timedelta(minutes=1))
        await h.step()
    assert sent_at is not None and 0 < sent_at <= 10


async def test_business_days_skip_the_weekend(h: Harness, clock: FakeClock) -> None:
    h.settings.lifecycle.deadline = "business"
    h.settings.lifecycle.decline_after = timedelta(days=5)
    clock.set(datetime(2026, 12, 4, 14, 0, tzinfo=UTC))  # a Friday
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    due = h.only_invitation().decline_due_at
    assert due == datetime(2026, 12, 11, 14, 0, tzinfo=UTC)  # next Friday, not Wednesday


async def test_out_of_office_with_a_return_date_moves_the_deadline(
    h: Harness, clock: FakeClock
) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    ask = h.inbox(ALICE)[0].raw
    ooo = reply(
        ask, ALICE, "I am out of the office until 20 December 2026.", Auto_Submitted="auto-replied"
    ).replace(b"Subject: Re:", b"Subject: Out of office: Re:")
    h.invite(ooo)
    await h.step()
    inv = h.only_invitation()
    assert inv.decline_due_at == datetime(2026, 12, 22, 0, 0, tzinfo=UTC)  # + 2 days grace
    clock.advance(timedelta(days=8))
    assert (await h.step()).declined == 0
    clock.set(datetime(2026, 12, 22, 0, 1, tzinfo=UTC))
    assert (await h.step()).declined == 1


async def test_an_unparseable_out_of_office_changes_nothing(h: Harness, clock: FakeClock) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    due = h.only_invitation().decline_due_at
    ooo = reply(h.inbox(ALICE)[0].raw, ALICE, "Away for a while.", Auto_Submitted="auto-replied")
    h.invite(ooo)
    await h.step()
    assert h.only_invitation().decline_due_at == due


async def test_allow_list_hands_over_and_deny_list_skips(h: Harness) -> None:
    h.settings.rules.allow = ["example.test"]
    h.settings.rules.deny = ["bob@example.test"]
    h.invite(linkedin_2012("Alice Example", ALICE))
    h.invite(linkedin_2012("Bob Builder", BOB))
    await h.step()
    states = {i.inviter_email: (i.state, i.reason) for i in h.invitations()}
    assert states[BOB][0] is State.SKIPPED and "deny list" in states[BOB][1]
    assert states[ALICE][0] is State.HANDED_OVER and "allow list" in states[ALICE][1]
    assert h.inbox(ALICE) == [] and h.inbox(BOB) == []


async def test_language_and_template_set_pick_the_template(h: Harness, tmp_path: Path) -> None:
    de = "Ich möchte Sie gerne zu meinem beruflichen Netzwerk auf LinkedIn hinzufügen."
    h.invite(linkedin_2012("Alice Example", ALICE, note=de))
    await h.step()
    assert "Erzählen Sie mir etwas über sich" in load(h.inbox(ALICE)[0].raw).get_content()

    mine = tmp_path / "mytemplates"
    mine.mkdir()
    (mine / "ask.friendly.txt.j2").write_text("Subject: Hello {{ inviter.first_name }}\n\nHey!\n")
    h.settings.templates.dir = mine
    h.settings.rules.template_sets = {"carol@example.test": "friendly"}
    h.invite(direct_invite("Carol Direct", "carol@example.test"))
    h.invite(linkedin_2012("Bob Builder", BOB))
    await h.step()
    assert load(h.inbox("carol@example.test")[0].raw)["Subject"] == "Hello Carol"
    assert load(h.inbox(BOB)[0].raw)["Subject"] == "Re: Invitation to connect on LinkedIn"


def test_a_bad_send_window_names_the_key(rig: MailRig, tmp_path: Path) -> None:
    from askfirst.config import ConfigError
    from askfirst.config_loading import load_settings
    from harness import write_config

    config = write_config(rig, tmp_path, send_window="Mox-Fri 09:00-18:00")
    with pytest.raises(ConfigError, match=r"^lifecycle.send_window: "):
        load_settings(config)
    config = write_config(rig, tmp_path)
    config.write_text(
        config.read_text().replace(
            'email = "owner@example.test"',
            'email = "owner@example.test"\ntimezone = "Mars/Olympus"',
        )
    )
    with pytest.raises(ConfigError, match=r"owner.timezone: "):
        load_settings(config)
