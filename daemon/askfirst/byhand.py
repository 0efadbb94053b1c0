"""Networks that hide the inviter: the owner asks by hand, askfirst keeps the clock.

Since about 2014 a LinkedIn invitation comes from `invitations@linkedin.com` and carries no
address of the inviter; Facebook and XING do the same. askfirst cannot ask, so the owner
does, inside the network (the ask text comes ready to paste), and askfirst watches the
owner's mailbox for the network's own notification that the inviter wrote back. When
`lifecycle.decline_after` passes in silence, the owner gets one reminder to decline.

askfirst never writes to the network, never to its relay addresses (`@reply.linkedin.com`)
and never opens a link: LinkedIn's User Agreement forbids automated messaging, so every
action inside the network stays the owner's. Pure: decisions on data the app hands in.
"""

from __future__ import annotations

from dataclasses import dataclass

from askfirst.classify import Verdict
from askfirst.lifecycle import Invitation, State
from askfirst.networks import BUILTIN
from askfirst.notifications import NETWORKS, NetworkNotification, Sender, normalise_name
from askfirst.rules import Decision

OPEN = (State.BY_HAND, State.REMINDED)
# Where the owner finds a pending invitation, and a person's profile by its slug.
INVITATIONS_PAGE = {
    "linkedin": "https://www.linkedin.com/mynetwork/invitation-manager/",
    "facebook": "https://www.facebook.com/friends/requests/",
    "xing": "https://www.xing.com/network/requests/incoming",
}
PROFILE_PAGE = {
    "linkedin": "https://www.linkedin.com/in/{slug}/",
    "xing": "https://www.xing.com/profile/{slug}",
}


def starts_by_hand(verdict: Verdict, decision: Decision, enabled: bool) -> bool:
    """An authenticated boilerplate invitation from a network that gives no address where a
    reply reaches the inviter (a suspect, an allowed sender or a personal note decides
    earlier in the rules and is handed over as before)."""
    return (
        enabled
        and decision.rule == "unreachable"
        and verdict.is_invitation
        and verdict.boilerplate is True
        and verdict.authenticated is True
        and verdict.network not in (None, "email")
    )


@dataclass(frozen=True)
class Match:
    """What a notification answers: `invitations` (one person's), or `ambiguous` ones the
    owner must sort out (askfirst does not guess), with the reason in words."""

    invitations: tuple[Invitation, ...]
    ambiguous: tuple[Invitation, ...]
    why: str


def match(notification: NetworkNotification, candidates: list[Invitation]) -> Match:
    """Link a notification to open by-hand invitations of its network: by profile slug
    where both carry one, else by the normalised full name; never by a first name."""
    pool = [c for c in candidates if c.network == notification.network and c.state in OPEN]
    found: dict[int, Invitation] = {}
    why: list[str] = []
    for sender in notification.senders:
        by_slug = [c for c in pool if sender.slug and slug_of(c) == sender.slug]
        if by_slug:
            found.update((c.id or 0, c) for c in by_slug)
            why.append(f"profile {sender.slug} matches invitation {_ids(by_slug)}")
            continue
        by_name = [c for c in pool if _same_name(sender, c)]
        if len(by_name) > 1:
            names = f"{len(by_name)} open invitations are from a {sender.name!r}"
            return Match((), tuple(by_name), f"{names}: askfirst does not guess")
        if by_name:
            found[by_name[0].id or 0] = by_name[0]
            why.append(f"full name {sender.name!r} matches invitation {_ids(by_name)}")
    if not found:
        who = ", ".join(s.name or s.slug or "?" for s in notification.senders) or "nobody named"
        return Match((), (), f"{who}: no open by-hand invitation from them")
    return Match(tuple(found.values()), (), "; ".join(why))


def _same_name(sender: Sender, inv: Invitation) -> bool:
    """Only when the two do not both carry a slug: two slugs that differ are two people."""
    if sender.slug and slug_of(inv):
        return False
    name = normalise_name(sender.name)
    return bool(name) and name == normalise_name(inv.inviter_name)


def slug_of(inv: Invitation) -> str | None:
    return inv.decision.profile_slug or None


def links(inv: Invitation) -> dict[str, str]:
    """The invitation and profile links for the owner's notices (clean, no tracking)."""
    slug = slug_of(inv)
    profile = PROFILE_PAGE.get(inv.network, "").format(slug=slug) if slug else ""
    if not profile:
        profile = inv.decision.profile_url or ""
    return {"invitation_url": INVITATIONS_PAGE.get(inv.network, ""), "profile_url": profile}


def network_of(address: str, own_domains: tuple[str, ...] = ()) -> str | None:
    """The network an address belongs to (its relays included), or None: askfirst never
    sends there. `own_domains`: the owner's own networks from the config."""
    for adapter in BUILTIN:
        if adapter.owns(address):
            return adapter.name
    for network in NETWORKS:
        if network.owns(address):
            return network.name
    domain = address.rpartition("@")[2].lower()
    hit = next((d for d in own_domains if domain == d or domain.endswith("." + d)), None)
    return hit


def _ids(invitations: list[Invitation]) -> str:
    return ", ".join(str(i.id) for i in invitations)
