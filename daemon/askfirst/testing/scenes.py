"""The demo's story, scene by scene: alice answers the ask, bob stays silent and is
declined, carol's personal note goes straight to the owner, dave's phishing imitation is
reported as the daemon judged it, erin is asked by hand on LinkedIn; then the owner's
INBOX, a clean stop and the summary. Each scene delivers mail into the rig and waits for
what the daemon does, read from outside (`observer`)."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from askfirst.testing.networkmail import linkedin_invitation, linkedin_message
from askfirst.testing.observer import DemoError, Observer, Timeline, body_text, gist, stop, why
from askfirst.testing.storymail import (
    ALICE,
    ALICE_ANSWER,
    BOB,
    BOILERPLATE,
    CAROL,
    CAROL_NOTE,
    DAVE,
    ERIN,
    OWNER,
    OWNER_NAME,
    PHISH_HOST,
    linkedin_2012,
    phishing_invitation,
    reply,
)

if TYPE_CHECKING:
    from askfirst.testing.rig import MailRig
    from askfirst.testing.rigmail import RigMessage


def story(tl: Timeline, obs: Observer, decline_after: str, wait: float) -> bool:
    """Play every scene; True when each person ended as told and askfirst stopped cleanly."""
    rig = obs.rig
    obs.poll("first pass of askfirst run", obs.ready, timeout=30)
    tl.say(f"askfirst run started (pid {obs.proc.pid}): first pass done, IMAP IDLE on INBOX")
    tl.why(f"config: decline_after = {decline_after}, replies in the name of {OWNER_NAME}")

    # alice: boilerplate -> ask -> she answers -> handed to the owner
    name, alice = ALICE
    invite_a = linkedin_2012(name, alice)
    tl.say(f'→ {alice} invites you (boilerplate: "{BOILERPLATE}")')
    rig.deliver(invite_a.as_bytes(), OWNER, mail_from=alice)
    ask_a = obs.poll(f"ask to {alice}", obs.mail(alice, _any), timeout=20)
    tl.say(f'← askfirst asked alice: "{ask_a.subject}" — {gist(body_text(ask_a.raw))}')
    tl.why(_status_line(obs, invite_a))
    answer = reply(ask_a.raw, f"{name} <{alice}>", ALICE_ANSWER)
    tl.say(f'→ alice answers: "{gist(ALICE_ANSWER.replace("Hi Pat,", ""), 60)}"')
    rig.deliver(answer.as_bytes(), OWNER, mail_from=alice)
    notice_a = obs.poll("handover notice for alice", obs.mail(OWNER, _notice_for(name)), 20)
    tl.say(f'← askfirst handed alice to you: notice "{notice_a.subject}"')
    tl.why(_status_line(obs, invite_a))

    # bob: boilerplate -> ask -> silence -> decline
    name, bob = BOB
    invite_b = linkedin_2012(name, bob)
    tl.say(f'→ {bob} invites you (boilerplate: "{BOILERPLATE}")')
    rig.deliver(invite_b.as_bytes(), OWNER, mail_from=bob)
    ask_b = obs.poll(f"ask to {bob}", obs.mail(bob, _any), timeout=20)
    asked_b = tl.elapsed()
    tl.say(f'← askfirst asked bob: "{ask_b.subject}" — {gist(body_text(ask_b.raw))}')
    tl.why(_status_line(obs, invite_b))
    tl.say(f"… bob stays silent; his decline falls due at about [{asked_b + wait:4.1f}s]")

    # carol: a personal note -> straight to the owner, nothing sent to her
    name, carol = CAROL
    invite_c = linkedin_2012(name, carol, note=CAROL_NOTE)
    tl.say(f'→ {carol} invites you with a personal note: "{gist(CAROL_NOTE, 60)}"')
    rig.deliver(invite_c.as_bytes(), OWNER, mail_from=carol)
    notice_c = obs.poll("handover notice for carol", obs.mail(OWNER, _notice_for(name)), 20)
    sent_c = len(rig.messages(carol))
    tl.say(
        f'← askfirst handed carol to you: notice "{notice_c.subject}"; '
        f"{'nothing' if sent_c == 0 else f'{sent_c} mail(s)'} sent to carol"
    )
    tl.why(_status_line(obs, invite_c))

    # dave: a phishing imitation; report whatever the daemon does
    phish = phishing_invitation()
    _dave_story(tl, obs, phish)

    # erin: modern LinkedIn hides her address -> the owner asks by hand -> she answers there
    erin_id = _erin_story(tl, obs)

    # bob's decline
    name, bob = BOB
    decline = obs.poll(
        f"decline to {bob}", obs.mail(bob, lambda m: m.uid != ask_b.uid), timeout=wait + 30
    )
    tl.say(
        f"← askfirst declined bob (no answer in {decline_after}): {gist(body_text(decline.raw))}"
    )
    tl.why(_status_line(obs, invite_b))

    # what the owner's mailbox and `askfirst status` say now, then a clean stop
    records = {r.get("source_message_id"): r for r in obs.status()}
    _mailbox(tl, obs)
    code = stop(obs.proc)
    tl.say(f"askfirst run stopped by SIGTERM (exit {code})")
    obs.rig.stop()
    tl.say("rig stopped; dovecot gone, temp dir removed")

    outcomes = {
        "alice": records.get(str(invite_a["Message-ID"])),
        "bob": records.get(str(invite_b["Message-ID"])),
        "carol": records.get(str(invite_c["Message-ID"])),
        "erin": records.get(erin_id),
    }
    expected = {
        "alice": "answered",
        "bob": "declined",
        "carol": "handed_over",
        "erin": "answered",
    }
    parts = [
        f"alice {_state(outcomes['alice'])} (handed to you)",
        f"bob {_state(outcomes['bob'])} (no answer in {decline_after})",
        f"carol {_state(outcomes['carol']).replace('_', ' ')} (personal note)",
        f"dave (phishing) {_dave_summary(obs, records.get(str(phish['Message-ID'])))}",
        f"erin {_state(outcomes['erin'])} (asked by hand on LinkedIn)",
    ]
    tl.write("summary: " + ", ".join(parts))
    wrong = [
        f"{who} is {_state(outcomes[who])}, expected {state}"
        for who, state in expected.items()
        if _state(outcomes[who]) != state
    ]
    if code != 0:
        wrong.append(f"askfirst run exited with {code}, expected 0")
    if wrong:
        tl.write("NOT AS EXPECTED: " + "; ".join(wrong))
        return False
    tl.write(f"demo took {tl.elapsed():.1f}s")
    return True


def _state(record: dict[str, Any] | None) -> str:
    return str(record["state"]) if record else "not recorded"


def _status_line(obs: Observer, invitation: EmailMessage) -> str:
    record = obs.record(str(invitation["Message-ID"]))
    return why(record) if record else "status: not recorded as an invitation"


def _dave_story(tl: Timeline, obs: Observer, phish: EmailMessage) -> None:
    rig, mid = obs.rig, str(phish["Message-ID"])
    dave = DAVE[1]
    notices_before = sum(1 for m in rig.messages(OWNER) if _is_notice(m))
    tl.say(
        f'→ "{phish["From"]}" invites you: a PHISHING imitation '
        f"(Reply-To {dave}; links to {PHISH_HOST}; dkim=fail, dmarc=fail)"
    )
    rig.deliver(phish.as_bytes(), OWNER, mail_from="bounce-7731@mass-mailer.example.top")
    try:
        record = obs.poll("askfirst's verdict on the phishing mail", lambda: obs.record(mid), 20)
    except DemoError:
        tl.say("· askfirst left the phishing mail untouched: not recorded as an invitation")
        return
    state = str(record["state"])
    if state == "asked":
        to = str(record.get("inviter_email") or dave)
        got = (
            obs.poll(f"ask to {to}", obs.mail(to, _any), timeout=20) if to.lower() == dave else None
        )
        what = f'"{got.subject}" ' if got else ""
        tl.say(
            f"⚠ askfirst asked the phisher: {what}went to {to} — it did NOT recognise the "
            "forgery (the phisher now knows your address is read)"
        )
    elif state == "handed_over":
        notice = obs.poll(
            "notice about the phishing mail",
            lambda: _nth_notice(rig, notices_before + 1),
            timeout=20,
        )
        tl.say(f'← askfirst handed the phishing mail to you: notice "{notice.subject}"')
    else:
        tl.say(f"· askfirst's verdict on the phishing mail: {state}")
    tl.why(why(record))
    sent = len(rig.messages(dave))
    tl.why(f"{'nothing' if sent == 0 else f'{sent} mail(s)'} sent to the Reply-To {dave}")


def _erin_story(tl: Timeline, obs: Observer) -> str:
    """A modern LinkedIn invitation: the owner pastes the ask, LinkedIn's notification says
    she wrote back, askfirst hands her over. The invitation's Message-ID."""
    rig, (name, slug) = obs.rig, ERIN
    first = name.split()[0]
    invite = linkedin_invitation(name, slug)
    mid = str(message_from_bytes(invite)["Message-ID"])
    tl.say(
        f'→ "{name}" <invitations@linkedin.com> invites you: modern LinkedIn, no address of '
        "hers anywhere (dkim=pass, dmarc=pass)"
    )
    rig.deliver(invite, OWNER, mail_from="s-demo@bounce.linkedin.com")
    by_hand = obs.poll(
        "by-hand notice for erin", obs.mail(OWNER, _notice_for(f"{name}: please ask")), 20
    )
    tl.say(f'← askfirst gives you the ask to paste into LinkedIn: notice "{by_hand.subject}"')
    tl.why(why(obs.record(mid) or {"state": "not recorded"}))
    tl.say("… you paste the ask into LinkedIn yourself; askfirst never writes to LinkedIn")
    tl.say(
        f'→ LinkedIn: "{first} just messaged you" from "{name} via LinkedIn" '
        "<messaging-digest-noreply@linkedin.com> (dkim=pass, dmarc=pass)"
    )
    rig.deliver(linkedin_message(name, slug), OWNER, mail_from="m-demo@bounce.linkedin.com")
    notice = obs.poll(
        "handover notice for erin", obs.mail(OWNER, _notice_for(f"{name}: answered")), 20
    )
    tl.say(f'← askfirst handed erin to you: notice "{notice.subject}"')
    tl.why(why(obs.record(mid) or {"state": "not recorded"}))
    return mid


def _nth_notice(rig: MailRig, n: int) -> RigMessage | None:
    notices = [m for m in rig.messages(OWNER) if _is_notice(m)]
    return notices[n - 1] if len(notices) >= n else None


def _dave_summary(obs: Observer, record: dict[str, Any] | None) -> str:
    if record is None:
        return "left untouched (not treated as an invitation)"
    state = str(record["state"])
    if state == "asked":
        return "ASKED — the phisher got a reply (not detected)"
    rule = (record.get("decision") or {}).get("rule") or "?"
    if state == "handed_over":
        return f"handed over to you (rule {rule}), nothing sent to the phisher"
    return f"{state} (rule {rule}: {record.get('reason') or ''})"


def _mailbox(tl: Timeline, obs: Observer) -> None:
    """The owner's INBOX as a mail client shows it: who, subject, askfirst's flags."""
    tl.say("your INBOX now (flags set by askfirst):")
    for m in obs.rig.messages(OWNER):
        msg = message_from_bytes(m.raw, policy=email_policy.default)
        sender = str(msg.get("From", ""))
        flags = sorted(f for f in m.flags if f == "\\Flagged" or f.startswith("$askfirst"))
        mark = " ".join(flags) if flags else "-"
        tl.why(f"{gist(sender, 40):<40} {gist(m.subject, 44):<44} {mark}")


def _notice_for(name: str) -> Callable[[RigMessage], bool]:
    return lambda m: m.subject.startswith("[askfirst]") and name in m.subject


def _is_notice(m: RigMessage) -> bool:
    return m.subject.startswith("[askfirst]")


def _any(m: RigMessage) -> bool:
    return True
