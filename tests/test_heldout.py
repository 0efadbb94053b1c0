"""The classifier on the held-out set (tests/heldout/): mails written apart from the
training corpus and never tuned on. The floor was fixed before the set was first scored;
if the figures fall below it, the floor stays and the test fails (see README, "How well it
works")."""

from __future__ import annotations

from pathlib import Path

import pytest
from scoring import score

HELDOUT = Path(__file__).parent / "heldout"
RECALL_FLOOR = 0.6  # fixed before the first run
PRECISION_FLOOR = 0.9  # fixed before the first run


@pytest.mark.skipif(not any(HELDOUT.glob("*.json")), reason="no held-out set")
def test_the_held_out_set_meets_the_floor() -> None:
    result, wrong = score(HELDOUT)
    print(f"held-out: {result}; wrong: {', '.join(wrong) or 'none'}")
    assert result.recall >= RECALL_FLOOR, (result, wrong)
    assert result.precision >= PRECISION_FLOOR, (result, wrong)
