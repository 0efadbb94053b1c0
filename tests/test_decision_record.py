"""The decision record: the JSON object in the state file and in `status --json` keeps its
keys, and rows written by older versions (keys missing, others unknown) still read."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from askfirst.lifecycle import Invitation, State
from askfirst.record import DecisionRecord
from askfirst.status import invitation_record
from askfirst.store import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FULL = DecisionRecord(
    action="ask",
    rule="boilerplate",
    reasons=("own-address: miss", "boilerplate: hit, nothing personal -> ask"),
    template="ask.de",
    note="",
    language="de",
    authenticated=True,
    phishing_suspect=False,
    profile_url="https://www.linkedin.com/in/sam",
    profile_slug="sam",
)


def test_the_json_object_has_the_keys_status_json_always_showed() -> None:
    assert list(FULL.to_json()) == [
        "action",
        "rule",
        "reasons",
        "template",
        "note",
        "language",
        "authenticated",
        "phishing_suspect",
        "profile_url",
        "profile_slug",
    ]
    assert FULL.to_json()["reasons"] == list(FULL.reasons)
    assert DecisionRecord.from_json(json.loads(json.dumps(FULL.to_json()))) == FULL


def test_missing_unknown_and_mistyped_keys_read_as_the_defaults() -> None:
    assert DecisionRecord.from_json({}) == DecisionRecord()
    assert DecisionRecord.from_json(None) == DecisionRecord()
    rebuilt = {"action": "ask", "rule": "rebuilt", "reasons": ["why"], "later": {"x": 1}}
    assert DecisionRecord.from_json(rebuilt) == DecisionRecord("ask", "rebuilt", ("why",))
    odd = {"action": "shout", "reasons": "one", "authenticated": "yes", "language": 7}
    assert DecisionRecord.from_json(odd) == DecisionRecord()


def test_an_old_row_reads_and_prints_with_every_key(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = Store(path)
    inv = Invitation("<inv@example.net>", "linkedin", "Sam", "sam@example.net", state=State.ASKED)
    saved = store.save(inv, T0)
    store.close()
    old = {"action": "hand_over", "rule": "rebuilt", "reasons": ["rebuilt: earlier"]}
    with sqlite3.connect(path) as db:
        db.execute("UPDATE invitations SET decision_json = ?", (json.dumps(old),))
    again = Store(path)
    try:
        (read,) = again.invitations()
    finally:
        again.close()
    assert read.decision == DecisionRecord("hand_over", "rebuilt", ("rebuilt: earlier",))
    assert invitation_record(read)["decision"] == DecisionRecord().to_json() | old
    assert saved.id == read.id
