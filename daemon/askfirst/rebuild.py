"""A new or lost state file: what askfirst already did, read back from the mailbox.

On a first start (no cursor for the watched folder), before any mail is acted on, the
Sent folder and the watched folder are read (headers only) back to the lookback window
plus `decline_after`. askfirst's own traces say what happened:
- an ask in Sent (`X-Askfirst: ask`, `In-Reply-To` the invitation): `asked`, the wait
  counted from when its copy was filed (the moment it left);
- a decline in Sent (`X-Askfirst: decline`, `In-Reply-To` the ask): `declined`;
- a reply to either that carries `$askfirst-answered`: `answered` (the owner was told);
  a reply without it was never handled, and the pass that follows handles it;
- an invitation with `$askfirst-handover`, or `$askfirst-asked` but no ask in Sent (a
  copy never filed or deleted): `handed_over`, nothing sent, no notice.
The invitations and replies found are noted as seen, so the pass does not act on them
again. Everything else in the lookback window is new to askfirst and handled as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from askfirst import logs
from askfirst.classify import classify
from askfirst.config import Settings
from askfirst.edges import Mailbox
from askfirst.imap_folders import Headers
from askfirst.lifecycle import KW_ANSWERED, KW_ASKED, KW_HANDOVER, Invitation, State
from askfirst.mails import TO_INVITER, MailKind
from askfirst.message import Mail, parse
from askfirst.record import DecisionRecord
from askfirst.render import LOOP_HEADER
from askfirst.store import RebuildNote, Store, mail_key

log = logs.get()


@dataclass(frozen=True)
class Trace:
    """One mail, by its headers, where it lies and with which flags."""

    uid: int
    mail: Mail
    raw: bytes
    flags: frozenset[str]
    at: datetime


@dataclass
class Rebuilt:
    asked: int = 0
    answered: int = 0
    declined: int = 0
    handed_over: int = 0

    def count(self, state: State) -> None:
        setattr(self, state.value, getattr(self, state.value) + 1)


def _trace(headers: Headers) -> Trace:
    return Trace(headers.uid, parse(headers.raw), headers.raw, headers.flags, headers.at)


async def rebuild(
    *,
    store: Store,
    mailbox: Mailbox,
    settings: Settings,
    since: datetime,
    now: datetime,
    decline_due: Callable[[datetime], datetime],
) -> Rebuilt:
    """Read the traces, record what they say in one transaction, and note it (`Facts.rebuilt`)."""
    folder = settings.imap.folder
    sent_folder = await mailbox.sent_folder()
    sent = [
        t
        for t in map(_trace, await mailbox.headers_since(sent_folder, since))
        if t.mail.header(LOOP_HEADER) in TO_INVITER
    ]
    watched = [_trace(h) for h in await mailbox.headers_since(folder, since)]
    asked_sources = {t.mail.in_reply_to[0] for t in sent if t.mail.in_reply_to}
    wanted = [t.uid for t in watched if t.mail.message_id in asked_sources]
    full = {f.uid: f.raw for f in await mailbox.fetch(wanted)}
    done = Rebuilt()
    with store.transaction():
        _record(store, settings, sent, watched, full, mailbox.uidvalidity, now, decline_due, done)
        store.facts.rebuilt = RebuildNote(now, **asdict(done))
    log.warning("state.rebuilt", since=since.isoformat(), **asdict(done))
    return done


def _record(
    store: Store,
    settings: Settings,
    sent: list[Trace],
    watched: list[Trace],
    full: dict[int, bytes],
    uidvalidity: int,
    now: datetime,
    decline_due: Callable[[datetime], datetime],
    done: Rebuilt,
) -> None:
    ours = {t.mail.message_id: t for t in sent}
    by_id = {t.mail.message_id: t for t in watched if t.mail.message_id not in ours}
    replies: dict[str, Trace] = {}
    for t in watched:
        for ref in t.mail.thread_ids:
            if ref in ours and t.mail.message_id not in ours:
                replies.setdefault(ref, t)
    declines = {
        t.mail.in_reply_to[0]: t
        for t in sent
        if t.mail.header(LOOP_HEADER) == MailKind.DECLINE and t.mail.in_reply_to
    }
    folder = settings.imap.folder

    def seen(t: Trace, outcome: str) -> None:
        key = mail_key(t.mail)
        store.mark_seen(folder, uidvalidity, t.uid, t.mail.message_id, outcome, now, key)

    handled: set[int] = set()
    for ask in (t for t in sent if t.mail.header(LOOP_HEADER) == MailKind.ASK):
        parent = ask.mail.in_reply_to[0] if ask.mail.in_reply_to else ask.mail.message_id
        source = by_id.get(parent)
        decline = declines.get(ask.mail.message_id)
        reply = replies.get(ask.mail.message_id) or (
            replies.get(decline.mail.message_id) if decline else None
        )
        answered = (reply is not None and KW_ANSWERED in reply.flags) or (
            source is not None and KW_ANSWERED in source.flags
        )
        inv = _invitation(ask, parent, source, full, settings)
        inv = replace(
            inv,
            asked_at=ask.at,
            decline_due_at=decline_due(ask.at),
            asked_message_id=ask.mail.message_id,
            state=State.ANSWERED if answered else State.DECLINED if decline else State.ASKED,
            declined_at=decline.at if decline else None,
            answered_at=(reply.at if reply else now) if answered else None,
        )
        saved = store.save(inv, now)
        done.count(inv.state or State.ASKED)
        for mine in (ask, decline):
            if mine is not None:
                kind = MailKind(mine.mail.header(LOOP_HEADER))
                to = mine.mail.to[0] if mine.mail.to else inv.inviter_email
                store.record_sent(mine.mail.message_id, saved.id or 0, kind, to, mine.raw, mine.at)
        if source is not None:
            handled.add(source.uid)
            seen(source, f"invitation {saved.id}: {saved.state} (rebuilt from the mailbox)")
        if reply is not None and answered:
            seen(reply, f"answer to invitation {saved.id} (rebuilt from the mailbox)")
    for t in watched:
        if t.uid in handled or not {KW_HANDOVER, KW_ASKED} & t.flags:
            continue
        why = "rebuilt from the mailbox: " + (
            "handed over to you earlier"
            if KW_HANDOVER in t.flags
            else "marked asked, but no copy of the ask in Sent; nothing more is sent"
        )
        inv = Invitation(
            source_message_id=t.mail.message_id,
            network="email",
            inviter_name=t.mail.from_name,
            inviter_email=t.mail.from_addr,
            subject=t.mail.subject,
            state=State.HANDED_OVER,
            reason=why,
            decision=DecisionRecord(action="hand_over", rule="rebuilt", reasons=(why,)),
            handed_over_at=t.at,
        )
        saved = store.save(inv, now)
        done.count(State.HANDED_OVER)
        seen(t, f"invitation {saved.id}: handed_over ({why})")


def _invitation(
    ask: Trace, parent: str, source: Trace | None, full: dict[int, bytes], settings: Settings
) -> Invitation:
    """What the invitation was, from the invitation itself when it is still there."""
    to = ask.mail.to[0] if ask.mail.to else ""
    mail = parse(full[source.uid]) if source and source.uid in full else None
    verdict = classify(mail, settings.classify, settings.owner.addresses()) if mail else None
    why = "rebuilt from the mailbox: the ask is in your Sent folder"
    return Invitation(
        source_message_id=parent,
        network=(verdict.network if verdict else None) or "email",
        inviter_name=(verdict.inviter_name if verdict else "") or "",
        inviter_email=to,
        subject=mail.subject if mail else ask.mail.subject.removeprefix("Re: "),
        references=((*mail.references, mail.message_id)[-20:] if mail else (parent,)),
        invitation_key=verdict.invitation_key if verdict else None,
        reason=why,
        decision=DecisionRecord(
            action="ask",
            rule="rebuilt",
            reasons=(why,),
            note=verdict.personal_note[:2000] if verdict else "",
            language=verdict.language if verdict else None,
            profile_url=verdict.profile_url if verdict else None,
        ),
    )
