"""Mutated real mails never make the pure pipeline raise, and verdicts are deterministic.

CI runs a few hundred cases; the long run is documented in the README:
    ASKFIRST_FUZZ_EXAMPLES=10000 scripts/test tests/test_fuzz.py
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askfirst.answer import answer_kind
from askfirst.classify import classify
from askfirst.message import parse
from askfirst.rules import Context, decide
from mails import bounce, direct_invite, linkedin_2012, out_of_office, plain

CORPUS = Path(__file__).parent / "corpus"
EXAMPLES = int(os.environ.get("ASKFIRST_FUZZ_EXAMPLES", "300"))


def _seeds() -> list[bytes]:
    built = [
        linkedin_2012("Alice Example", "alice@example.test"),
        direct_invite("Carol Direct", "carol@example.test", " We met at PyCon."),
        plain("Bob <bob@example.test>"),
        bounce("<abc@example.test>"),
    ]
    built.append(out_of_office(built[0], "alice@example.test"))
    return built + [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]


SEEDS = _seeds()

_mutation = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "newlines"]),
    st.floats(min_value=0, max_value=1),
    st.binary(min_size=1, max_size=64),
)


def mutate(raw: bytes, ops: list[tuple[str, float, bytes]]) -> bytes:
    data = bytearray(raw)
    for op, where, blob in ops:
        at = int(where * len(data))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] ^= blob[0] or 1
        elif op == "insert":
            data[at:at] = blob
        elif op == "delete":
            del data[at : at + len(blob) * 8]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            line_end = data.find(b"\n", at)
            line_start = data.rfind(b"\n", 0, at) + 1
            if line_end > line_start:
                data[line_start:line_start] = data[line_start : line_end + 1] * (blob[0] % 40 + 1)
        elif op == "newlines":
            data = bytearray(bytes(data).replace(b"\n", b"\r" if blob[0] % 2 else b"\r\r\n"))
    return bytes(data)


def verdict_of(raw: bytes) -> tuple[object, ...]:
    mail = parse(raw)
    verdict = classify(mail)
    decision = decide(mail, verdict, Context(owner_addresses=frozenset({"owner@example.test"})))
    return (mail, verdict, decision, answer_kind(mail))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(seed=st.sampled_from(SEEDS), ops=st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_mails_never_raise_and_verdicts_are_deterministic(
    seed: bytes, ops: list[tuple[str, float, bytes]]
) -> None:
    raw = mutate(seed, ops)
    first = verdict_of(raw)
    assert verdict_of(raw) == first
    mail = first[0]
    for value in (mail.from_addr, mail.from_name, mail.subject, mail.message_id):  # type: ignore[attr-defined]
        assert "\r" not in value and "\n" not in value
