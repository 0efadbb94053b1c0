"""What the state knows besides its tables (the `meta` table): how the last passes went,
why sending is held, problems found on the way, the first start's floor and rebuild.

One declaration per key in `Facts`: the attribute's name is the key, its class the type
callers read and write, its text the meaning. `status` and `health` read these values,
perhaps from a state written by an older or newer askfirst, so each keeps the text it
always had: counts and epoch seconds as decimal text, flags as "1"/"0", the rebuild note
as JSON.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Generic, TypeVar, overload

from askfirst.clock import from_epoch, to_epoch
from askfirst.store.db import Connection

Read = TypeVar("Read")
Written = TypeVar("Written")


@dataclass(frozen=True)
class RebuildNote:
    """What the first start read back from the mailbox (`rebuild.py`): when, and how many
    invitations it found in each state."""

    at: datetime
    asked: int
    answered: int
    declined: int
    handed_over: int


class Fact(ABC, Generic[Read, Written]):
    """One key of the meta table, read as `Read` (a missing key too) and written as `Written`."""

    key: str

    def __init__(self, meaning: str) -> None:
        self.__doc__ = meaning

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    @overload
    def __get__(self, facts: None, owner: type) -> Fact[Read, Written]: ...
    @overload
    def __get__(self, facts: Facts, owner: type) -> Read: ...
    def __get__(self, facts: Facts | None, owner: type) -> Fact[Read, Written] | Read:
        if facts is None:
            return self
        row = facts.db.execute("SELECT value FROM meta WHERE key = ?", (self.key,)).fetchone()
        return self.load(str(row["value"]) if row else None)

    def __set__(self, facts: Facts, value: Written) -> None:
        facts.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (self.key, self.dump(value))
        )

    @abstractmethod
    def load(self, text: str | None) -> Read: ...

    @abstractmethod
    def dump(self, value: Written) -> str: ...


class Count(Fact[int, int]):
    """A number; missing is 0."""

    def load(self, text: str | None) -> int:
        return int(text or 0)

    def dump(self, value: int) -> str:
        return str(value)


class Flag(Fact[bool, bool]):
    """Yes ("1") or no ("0"); missing is no."""

    def load(self, text: str | None) -> bool:
        return text == "1"

    def dump(self, value: bool) -> str:
        return "1" if value else "0"


class Text(Fact[str, str]):
    """Free text; missing (never said) is the same as empty (nothing to say)."""

    def load(self, text: str | None) -> str:
        return text or ""

    def dump(self, value: str) -> str:
        return value


class Moment(Fact[datetime | None, datetime]):
    """A time, kept as whole epoch seconds; missing is None."""

    def load(self, text: str | None) -> datetime | None:
        return from_epoch(int(text)) if text else None

    def dump(self, value: datetime) -> str:
        return str(to_epoch(value))


class Note(Fact[RebuildNote | None, RebuildNote]):
    """The rebuild note as JSON ({"at": ISO 8601, "asked": n, ...}); missing is None."""

    def load(self, text: str | None) -> RebuildNote | None:
        if not text:
            return None
        fields = json.loads(text)
        return RebuildNote(**{**fields, "at": datetime.fromisoformat(fields["at"])})

    def dump(self, value: RebuildNote) -> str:
        return json.dumps(asdict(value) | {"at": value.at.isoformat()})  # `at` stays first


class Facts:
    """The account's facts, typed (`store.facts.failed_passes += 1`). Reads and writes go
    straight to the table, inside the caller's transaction if one is open."""

    last_pass_at = Moment("when the last pass ended well (`health`: stale after its limit)")
    failed_passes = Count("passes failed in a row since then (`health`: FAILED_PASSES_UNHEALTHY)")
    imap_connected = Flag("the last pass reached the IMAP server")
    last_error = Text("why the last pass failed")
    not_before = Moment("mail older than this is never acted on (the first start's lookback)")
    approved_sends = Count("mails the owner approved since the templates changed (approve_first)")
    templates_fingerprint = Text("the templates `approved_sends` counts for")
    brake = Text("why due mail is held (`status`; a change is logged once)")
    config_error = Text("the configuration problem sending ran into (`health`)")
    folder_error = Text("the folder the IMAP server refused (`health`, `status`)")
    rebuilt = Note("what the first start read back from the mailbox; None: not yet")

    def __init__(self, db: Connection) -> None:
        self.db = db
