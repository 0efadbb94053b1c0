"""Precision and recall of the classifier on a folder of labelled mails (`*.eml` with a
`*.json` sidecar, as in tests/corpus/). Positive: the sidecar says `is_invitation` (a
phishing imitation or a gated direct invitation is one; without the field, the label
"invitation" decides); predicted positive: `classify` says it is an invitation. Also how
often the boilerplate / personal call agrees on the invitations found.

    python tests/scoring.py tests/corpus tests/heldout
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from askfirst.classify import classify
from askfirst.config import Classify
from askfirst.message import parse

OWNER = frozenset({"owner@example.test"})
TRUST = Classify(authserv_id="mx.example.test")


@dataclass(frozen=True)
class Score:
    mails: int
    tp: int
    fp: int
    fn: int
    boilerplate_agrees: int  # among true positives

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def __str__(self) -> str:
        return (
            f"{self.mails} mails, {self.tp + self.fn} invitations: precision {self.precision:.2f}"
            f" ({self.tp}/{self.tp + self.fp}), recall {self.recall:.2f} ({self.tp}/"
            f"{self.tp + self.fn}); boilerplate/personal right on {self.boilerplate_agrees}/"
            f"{self.tp} found"
        )


def score(folder: Path, pattern: str = "*.json") -> tuple[Score, list[str]]:
    """The score, and the names of the mails it got wrong (for a report, not for tuning)."""
    tp = fp = fn = agrees = 0
    wrong = []
    cases = sorted(folder.glob(pattern))
    for sidecar in cases:
        label = json.loads(sidecar.read_text())
        verdict = classify(parse(sidecar.with_suffix(".eml").read_bytes()), TRUST, OWNER)
        truth = bool(label.get("is_invitation", label["label"] == "invitation"))
        if truth and verdict.is_invitation:
            tp += 1
            agrees += verdict.boilerplate == label.get("boilerplate")
        elif verdict.is_invitation:
            fp += 1
        elif truth:
            fn += 1
        if truth != verdict.is_invitation:
            wrong.append(sidecar.stem)
    return Score(len(cases), tp, fp, fn, agrees), wrong


def by_language(folder: Path) -> dict[str, tuple[int, int]]:
    """Invitations found / invitations, per labelled language."""
    counts: dict[str, tuple[int, int]] = {}
    for sidecar in sorted(folder.glob("*.json")):
        label = json.loads(sidecar.read_text())
        if not label.get("is_invitation", label["label"] == "invitation"):
            continue
        found = classify(parse(sidecar.with_suffix(".eml").read_bytes()), TRUST, OWNER)
        lang = str(label.get("language"))
        hit, total = counts.get(lang, (0, 0))
        counts[lang] = (hit + found.is_invitation, total + 1)
    return counts


if __name__ == "__main__":
    for name in sys.argv[1:] or ["tests/corpus"]:
        result, missed = score(Path(name))
        print(f"{name}: {result}")
        languages = by_language(Path(name))
        print(
            "  recall by language: " + ", ".join(f"{k} {h}/{t}" for k, (h, t) in languages.items())
        )
        negatives = result.mails - result.tp - result.fn
        print(f"  negatives: {negatives}, taken for invitations: {result.fp}")
