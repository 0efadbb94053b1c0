"""The classifier on the held-out set (tests/heldout/): mails written apart from the
training corpus and never tuned on. The floors were fixed before the set was first
scored, and they stay where they were: a miss is recorded here and in the README, never
tuned away on these mails (see tests/heldout/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring import Score, score

HELDOUT = Path(__file__).parent / "heldout"
RECALL_FLOOR = 0.6  # fixed before the first run
PRECISION_FLOOR = 0.9  # fixed before the first run

pytestmark = pytest.mark.skipif(not any(HELDOUT.glob("*.json")), reason="no held-out set")


def measured() -> Score:
    result, _ = score(HELDOUT)
    print(f"held-out: {result}")
    return result


def test_held_out_precision_meets_the_floor() -> None:
    assert measured().precision >= PRECISION_FLOOR


@pytest.mark.xfail(
    reason="first scored after tuning: recall 0.38 (12/32); after a second training batch "
    "0.50 (16/32), still below the floor fixed before; not tuned on the held-out mails "
    "(README, 'How well it works')",
    strict=True,
)
def test_held_out_recall_meets_the_floor() -> None:
    assert measured().recall >= RECALL_FLOOR
