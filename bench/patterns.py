"""Pathological mail bodies through parse + classify, and the three invitation-id patterns
under three engines: the old backtracking form, the rewritten form, and google-re2.

Standalone (no rig): `.venv/bin/python bench/patterns.py`. google-re2 is measured only when
installed (`pip install google-re2`); askfirst itself does not depend on it (bench/README).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

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


def search_all(patterns: list[Any], text: str) -> Callable[[], object]:
    return lambda: [p.search(text) for p in patterns]


def ids_line(n: int) -> str:
    """The three id patterns on `n` x 'linkedin.com/' (the old form only where it is quick)."""
    text = "linkedin.com/" * n
    line = f"ids, {n} x 'linkedin.com/': "
    line += f"rewritten re {seconds(search_all(list(_KEY), text)) * 1000:.1f} ms"
    if n <= 4000:  # quadratic: minutes at 20,000
        old = [re.compile(p, re.I) for p in OLD]
        line += f", old re {seconds(search_all(old, text)) * 1000:.0f} ms"
    try:
        import re2  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return line + ", re2 not installed"
    opts = re2.Options()
    opts.case_sensitive = False
    fast = [re2.compile(p, opts) for p in OLD]
    return line + f", re2 {seconds(search_all(fast, text)) * 1000:.1f} ms"


def main() -> None:
    for n in (2_000, 20_000):
        print(ids_line(n))
    bodies = {
        "20,000 x 'linkedin.com/' (quoted-printable)": "linkedin.com/" * 20_000,
        "one 500 kB token": "x" * 500_000,
        "20,000 x 'linkedin.com/e/'": "linkedin.com/e/" * 20_000,
        "100,000 short lines": "Hi\n" * 100_000,
    }
    for name, body in bodies.items():
        print(f"parse + classify, {name}: {seconds(read(mail(body))):.3f} s")


def read(raw: bytes) -> Callable[[], object]:
    return lambda: classify(parse(raw))


if __name__ == "__main__":
    main()
