"""Header fields read defensively: address lists split before names are decoded, encoded
words decoded without raising, and every value made one safe line (`clean`).

The common single plain address is read with one pattern; anything unusual goes to the
email package's own parser (tests/test_message.py checks that both read alike).
"""

from __future__ import annotations

import re
from email._header_value_parser import get_address_list
from email.header import decode_header, make_header
from email.utils import getaddresses

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# An address header longer than this is not read: the email package's parser takes time
# that grows faster than the text (0.03 s at 2,000 characters, 17 s at 100,000), and no
# header an invitation or an answer needs is anywhere near as long (about 40 addresses).
MAX_ADDRESS_HEADER = 2_000


def clean(text: str, limit: int = 1000) -> str:
    """One line of text that is safe to put into a header or a log: no CR, LF or controls."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


def mailboxes(value: str) -> list[tuple[str, str]]:
    """(name, lower-cased address) of every mailbox in an address header; an address that
    is not plainly one (spaces, brackets, controls, no single @) is given as ""."""
    return addresses(address_list(value))


def address_list(value: str) -> str:
    """Split the addresses first, then decode each name: decoding the whole header first
    would let an encoded name (CR/LF, '<', ',' inside =?...?=) add or replace an address.
    The common single plain address skips the email package's parser (~0.1 ms a header);
    a header over `MAX_ADDRESS_HEADER` characters gives no address at all."""
    if len(value) > MAX_ADDRESS_HEADER:
        return ""
    simple = simple_address(value)
    return simple if simple is not None else parsed_address_list(value)


# One ASCII address, bare or angled, with an optional plain or quoted name: nothing the full
# parser treats specially (no comments, groups, escapes, domain literals, encoded words:
# no "?"), so both give the same text (tests/test_message.py checks it).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=^_`{|}~-]+"
_ADDR = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_QUOTED = r'"(?P<quoted>[ !#->@-\[\]-~]*)"'  # printable ASCII but " ? and \
_WORDS = rf"(?P<words>{_ATOM}(?:[ ]+{_ATOM})*)"
_SIMPLE = re.compile(
    rf"[ ]*(?:(?P<bare>{_ADDR})|(?:{_QUOTED}|{_WORDS})?[ ]*<(?P<angled>{_ADDR})>)[ ]*"
)


def simple_address(value: str) -> str | None:
    """`address_list` of a plain single address, or None when the full parser must read it."""
    found = _SIMPLE.fullmatch(value) if value.isascii() else None
    if found is None:
        return None
    if found["bare"]:
        return found["bare"]
    name = clean(found["quoted"] or found["words"] or "", 200)
    return f'"{name}" <{found["angled"]}>' if name else found["angled"]


def parsed_address_list(value: str) -> str:
    quoted = []
    try:
        for box in get_address_list(value)[0].all_mailboxes:
            if not box.addr_spec:
                continue
            name = clean(box.display_name or "", 200).replace("\\", "\\\\").replace('"', '\\"')
            quoted.append(f'"{name}" <{box.addr_spec}>' if name else box.addr_spec)
    except Exception:  # the token tree computes parts lazily; a broken one raises late
        return ""
    return ", ".join(quoted)


def decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def addresses(value: str) -> list[tuple[str, str]]:
    pairs = []
    for name, addr in getaddresses([value]):
        addr = addr.strip().lower()
        domain = addr.partition("@")[2]  # an apostrophe is fine before it: o'brien@example.ie
        bad = any(c in addr for c in ' <>"(),;:') or "'" in domain or _CONTROL.search(addr)
        if addr.count("@") != 1 or bad:
            addr = ""
        pairs.append((clean(name, 200), addr))
    return pairs
