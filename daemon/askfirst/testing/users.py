"""The rig's mail users and their passwords: one fixed set, shared by Dovecot's users file,
the SMTP bridge's AUTH and the OAuth2 token store."""

from __future__ import annotations

DOMAIN = "example.test"
_NAMED = ("owner", "alice", "bob", "carol", "dave", "erin")
USERS: tuple[str, ...] = tuple(f"{n}@{DOMAIN}" for n in _NAMED) + tuple(
    f"inviter{i:02d}@{DOMAIN}" for i in range(1, 41)
)
USER_SET = frozenset(USERS)


def password_of(user: str) -> str:
    if user.lower() not in USER_SET:
        raise ValueError(f"{user!r} is not a rig user")
    return user.split("@", 1)[0].lower() + "pass"
