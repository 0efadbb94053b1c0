"""The RFC 3834 / RFC 5230 gates against the cases derived from Dovecot Pigeonhole's
Sieve vacation tests and source (tests/conformance/).

Each case becomes a direct invitation (its header block, a Return-Path for the envelope
sender, and a body with a default invitation sentence) and runs through the classifier
and the decision table: "respond" means askfirst would ask. The envelope recipient counts
as one of the owner's addresses, as in Pigeonhole. Where askfirst deliberately differs
from Pigeonhole, the case carries an `askfirst` entry with its own verdict and the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from askfirst.classify import classify
from askfirst.message import parse
from askfirst.rules import Context, Decision, decide

HERE = Path(__file__).parent / "conformance"
CASES: list[dict[str, Any]] = json.loads((HERE / "vacation_cases.json").read_text())
BODY = "Hi,\n\nI'd like to add you to my professional network on LinkedIn.\n\nAna\n"


def run(case: dict[str, Any]) -> Decision:
    sender = case["envelope_from"]
    raw = f"Return-Path: <{sender}>\n{case['headers']}\n\n{BODY}".replace("\n", "\r\n")
    mail = parse(raw.encode())
    owner = frozenset(a.lower() for a in (*case["owner_addresses"], case["envelope_to"]))
    verdict = classify(mail, None, owner)
    return decide(mail, verdict, Context(owner_addresses=owner))


def expected(case: dict[str, Any]) -> bool:
    ours = case.get("askfirst")
    return bool(ours["respond"] if ours else case["respond"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    assert case["source"], "every case names its RFC section or Pigeonhole test"
    decision = run(case)
    responded = decision.action == "ask"
    assert responded is expected(case), (case["reason"], decision.reasons)
    if not responded:  # a gate (or the classifier) said why, with its source
        assert decision.reasons[-1].split(":")[0] == decision.rule


def test_the_table_is_whole() -> None:
    assert len(CASES) == 60
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        if "askfirst" in case:
            assert case["askfirst"]["respond"] is not case["respond"], case["id"]
            assert case["askfirst"]["note"], case["id"]
