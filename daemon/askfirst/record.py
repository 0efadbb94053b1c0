"""What was decided about an invitation, kept with it: the rule trace for `explain` and
`status --json`, and what the notices and templates need later (note, language, profile).

Stored as a JSON object (the `decision_json` column) whose keys are this record's fields;
`status --json` prints the same object. Rows written by older versions may lack keys (they
get the defaults) or carry others (ignored), so reading never fails on an old state file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from askfirst.rules import Action

_ACTIONS: tuple[Action, ...] = get_args(Action)


@dataclass(frozen=True)
class DecisionRecord:
    action: Action | None = None  # None: no decision was taken (a preview, a set-aside mail)
    rule: str = ""
    reasons: tuple[str, ...] = ()  # every rule looked at, hit or miss, in order
    template: str | None = None  # the ask template the inviter would get
    note: str = ""  # the personal note, capped
    language: str | None = None
    authenticated: bool | None = None  # None: not checked or no trusted results
    phishing_suspect: bool = False
    profile_url: str | None = None
    profile_slug: str | None = None  # ties the network's "X messaged you" to this invitation

    def to_json(self) -> dict[str, object]:
        """The JSON object stored and printed; keys in the order `status --json` shows."""
        return {
            "action": self.action,
            "rule": self.rule,
            "reasons": list(self.reasons),
            "template": self.template,
            "note": self.note,
            "language": self.language,
            "authenticated": self.authenticated,
            "phishing_suspect": self.phishing_suspect,
            "profile_url": self.profile_url,
            "profile_slug": self.profile_slug,
        }

    @classmethod
    def from_json(cls, data: object) -> DecisionRecord:
        """Read a stored object; a key that is missing or of the wrong type gets its default."""
        raw = data if isinstance(data, dict) else {}
        action = raw.get("action")
        reasons = raw.get("reasons")
        authenticated = raw.get("authenticated")
        return cls(
            action=next((a for a in _ACTIONS if a == action), None),
            rule=_text(raw.get("rule")) or "",
            reasons=tuple(str(r) for r in reasons) if isinstance(reasons, list) else (),
            template=_text(raw.get("template")),
            note=_text(raw.get("note")) or "",
            language=_text(raw.get("language")),
            authenticated=authenticated if isinstance(authenticated, bool) else None,
            phishing_suspect=raw.get("phishing_suspect") is True,
            profile_url=_text(raw.get("profile_url")),
            profile_slug=_text(raw.get("profile_slug")),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
