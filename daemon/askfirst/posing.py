"""Does a mail dress up as a network it is not from?

Names and addresses are compared by their skeletons (after Unicode UTS #39): NFKC, zero-
width and bidi control characters removed, every character that is confusable with an ASCII
letter or digit replaced by it (Cyrillic `і`, fullwidth `ｌ`, mathematical `𝐋`, ...), case
folded, and the ASCII look-alikes folded into one (`I l 1 |`, `0 o`, `rn m`, `vv w`). So
`LіnkedIn`, `Linkedln` and `L\u200binkedIn` all read as `linkedin` does.

The confusables come from `confusable-homoglyphs`, which ships Unicode's confusables.txt
as data; its table is symmetric (a letter lists its look-alikes and its prototype), so a
non-ASCII character takes the first ASCII letter or digit it is listed with.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from confusable_homoglyphs.confusables import confusables_data  # type: ignore[import-untyped]

from askfirst.message import Mail
from askfirst.networks import Adapter

_ASCII_FOLD = str.maketrans({"i": "l", "1": "l", "|": "l", "!": "l", "0": "o"})
_ASCII_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def invisible(char: str) -> bool:
    """Zero-width, bidi control and other format characters (Unicode category Cf)."""
    return unicodedata.category(char) == "Cf"


def strip_invisible(text: str) -> str:
    return "".join(c for c in text if not invisible(c))


@cache
def _prototype(char: str) -> str:
    if char.isascii():
        return char
    for entry in confusables_data.get(char, ()):
        glyph = str(entry.get("c", ""))
        if len(glyph) == 1 and glyph.isascii() and glyph.isalnum():
            return glyph
    return char


def skeleton(text: str) -> str:
    """A form in which look-alike strings compare equal (for detection, never for display)."""
    text = strip_invisible(unicodedata.normalize("NFKC", text))
    text = unicodedata.normalize("NFD", text)
    text = "".join(_prototype(c) for c in text if not unicodedata.combining(c))
    text = unicodedata.normalize("NFKC", text).casefold().translate(_ASCII_FOLD)
    for pair, single in _ASCII_PAIRS:
        text = text.replace(pair, single)
    return text


def _template_headers(mail: Mail, adapter: Adapter) -> list[str]:
    """The network's own template headers (`X-LinkedIn-*`) present in the mail."""
    prefix = f"x-{adapter.id}-"
    return sorted(name for name in mail.headers if name.lower().startswith(prefix))


def _named(text: str, adapter: Adapter) -> bool:
    return bool(text) and skeleton(adapter.name) in skeleton(text)


def _domain_imitates(domain: str, adapter: Adapter) -> bool:
    """A look-alike of the network's domain (`lіnkedin.com`, `linkedln-mail.com`)."""
    seen = skeleton(domain)
    return any(skeleton(d.partition(".")[0]) in seen for d in adapter.domains)


def imitated(mail: Mail, adapters: tuple[Adapter, ...]) -> Adapter | None:
    """The network a mail from a foreign domain presents itself as, if any."""
    local, _, domain = mail.from_addr.partition("@")
    for adapter in adapters:
        if adapter.owns(mail.from_addr):
            return None
    for adapter in adapters:
        if (
            _template_headers(mail, adapter)
            or _named(mail.from_name, adapter)
            or _named(local, adapter)
            or _domain_imitates(domain, adapter)
        ):
            return adapter
    return None


def poses_as(mail: Mail, adapter: Adapter, *, system_mailbox: bool) -> str | None:
    """Why the mail poses as `adapter` from a domain the network does not own (None if it
    does not). A person's own From that merely mentions the network, as in the 2012-13
    LinkedIn format, does not pose; a "Name via LinkedIn" display name does."""
    if adapter.owns(mail.from_addr):
        return None
    local, _, domain = mail.from_addr.partition("@")
    if headers := _template_headers(mail, adapter):
        return f"{adapter.name}'s template header {headers[0]} from {domain or '<>'}"
    if _named(mail.from_name, adapter):
        return f"display name {strip_invisible(mail.from_name)!r} from {domain or '<>'}"
    if _named(local, adapter) or system_mailbox:
        return f"{adapter.name}-style mailbox {strip_invisible(mail.from_addr)!r}"
    if _domain_imitates(domain, adapter):
        return f"look-alike of {adapter.name}'s domain: {strip_invisible(domain)!r}"
    return None
