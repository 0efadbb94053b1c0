"""Every labelled mail in tests/corpus/ is classified as its sidecar says, field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from askfirst.classify import Verdict, classify
from askfirst.config import Classify
from askfirst.message import parse
from askfirst.rules import Context, Decision, decide

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.json"))
OWNER = "owner@example.test"
TRUST = Classify(authserv_id="mx.example.test")


def judge(eml: Path) -> tuple[Verdict, Decision]:
    mail = parse(eml.read_bytes())
    verdict = classify(mail, TRUST, frozenset({OWNER}))
    return verdict, decide(mail, verdict, Context(owner_addresses=frozenset({OWNER})))


def observed(verdict: Verdict, decision: Decision) -> dict[str, Any]:
    return {
        "is_invitation": verdict.is_invitation,
        "network": verdict.network,
        "boilerplate": verdict.boilerplate,
        "reply_address": verdict.reply_address,
        "language": verdict.language,
        "invitation_key": verdict.invitation_key,
        "action": decision.action,
        "phishing_suspect": verdict.phishing_suspect,
    }


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_corpus_case(case: Path) -> None:
    expected = json.loads(case.read_text())
    verdict, decision = judge(case.with_suffix(".eml"))
    got = observed(verdict, decision)
    want = {key: expected[key] for key in got}
    if not expected["is_invitation"]:  # fields of a non-invitation are not judged
        for key in ("boilerplate", "reply_address", "language", "network"):
            want[key] = got[key] = None
    assert got == want, verdict.reasons
    if expected["note_contains"]:
        assert expected["note_contains"] in verdict.personal_note
    if expected["inviter_name"] and expected["is_invitation"]:
        assert verdict.inviter_name == expected["inviter_name"]


def test_corpus_is_labelled() -> None:
    assert len(CASES) >= 60
    for case in CASES:
        assert case.with_suffix(".eml").exists(), case
