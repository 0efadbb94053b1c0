"""Pathological mail bodies through parse + classify, and the three invitation-id patterns
under three engines: the old backtracking form, the rewritten form, and google-re2.

Standalone (no rig): `.venv/bin/python bench/patterns.py`. google-re2 is measured only when
installed (`pip install google-re2`); askfirst itself does not depend on it (bench/README).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage

from askfirst.classify import classify
from askfirst.message import parse
from askfirst.networks import _KEY

OLD = (
    r"linkedin\.com/\S*?invitationId[=/](\d+)",
    r"linkedin\.com/\S*?/isd/(\d+)/",
    r"linkedin\.com/\S*?/blk/I(\d+)_\d+",
)


def seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def mail(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sam <sam@example.net>"
    msg["To"] = "pat@example.org"
    msg["Subject"] = "Invitation to connect on LinkedIn"
    msg.set_content(body, cte="quoted-printable")
    return msg.as_bytes()


def main() -> None:
    for n in (2_000, 20_000):
        text = "linkedin.com/" * n
        old = [re.compile(p, re.I) for p in OLD]
        old_s = seconds(lambda old=old, text=text: [p.search(text) for p in old]) if n <= 4000 else None
        new_s = seconds(lambda text=text: [p.search(text) for p in _KEY])
        line = f"ids, {n} x 'linkedin.com/': rewritten re {new_s * 1000:.1f} ms"
        if old_s is not None:
            line += f", old re {old_s * 1000:.0f} ms"
        try:
            import re2  # type: ignore[import-not-found, unused-ignore]

            opts = re2.Options()
            opts.case_sensitive = False
            fast = [re2.compile(p, opts) for p in OLD]
            line += f", re2 {seconds(lambda: [p.search(text) for p in fast]) * 1000:.1f} ms"
        except ImportError:
            line += ", re2 not installed"
        print(line)
    bodies = {
        "20,000 x 'linkedin.com/' (quoted-printable)": "linkedin.com/" * 20_000,
        "one 500 kB token": "x" * 500_000,
        "20,000 x 'linkedin.com/e/'": "linkedin.com/e/" * 20_000,
        "100,000 short lines": "Hi\n" * 100_000,
    }
    for name, body in bodies.items():
        raw = mail(body)
        print(f"parse + classify, {name}: {seconds(lambda raw=raw: classify(parse(raw))):.3f} s")


if __name__ == "__main__":
    sys.exit(main())
