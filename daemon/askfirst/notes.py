"""Find the personal note in an invitation and tell it from the network's default text.

A note sits in one slot per format: after the banner, intro line and
greeting, before the signature, the inviter's name block or the first link. What is left
after removing greeting, signature and every known default sentence is the personal part;
nothing left means boilerplate (an empty note is boilerplate too).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from importlib import resources

_INTRO = re.compile(
    r"(requested to add you as a connection|has indicated you are a fellow|"
    r"would like to connect on linkedin|sent you an invitation to connect|invited you to connect)",
    re.I,
)
_STOP = re.compile(
    r"^(- ?\S.*|--\s*|-{3,}|\.{5,}|_{5,}|confirm(a)? (that you know|que conoces) .*"
    r"|harap konfirmasi.*|accept invitation.*|view invitation.*|view profile:?.*|accept:.*"
    r"|view .*'s profile:?.*|.*https?://.*)$",
    re.I,
)
_PROFILE = re.compile(r"^(view profile:?.*|view .*'s profile:?.*|accept:.*)$", re.I)
_FORWARD = re.compile(
    r"^(-{3,} ?(forwarded message|original message|weitergeleitete nachricht) ?-{3,}"
    r"|begin forwarded message:|-----original message-----)",
    re.I | re.M,
)
_GREETING = re.compile(
    r"^(hi|hello|hey|dear|hai|halo|hallo|hola|bonjour|ciao|olá|ola|oi|salut|beste|hoi|hej"
    r"|liebe[rs]?|sehr geehrte[rs]?|good (morning|afternoon|evening)|guten (tag|morgen|abend)"
    r"|buen(os|as) (días|dias|tardes|noches)|bom dia|boa (tarde|noite)|buongiorno|buonasera"
    r"|goede(morgen|middag|navond)|dag|selamat (pagi|siang|sore|malam)|salve|cher|chère"
    r"|caro|cara|querid[oa]|prezad[oa]|estimad[oa])\b[^.!?]{0,40}[,!:]?$",
    re.I,
)
_CLOSING = re.compile(
    r"^(best|regards|best regards|kind regards|thanks|thank you|cheers|greetings|all the best"
    r"|sincerely|viele grüße|beste grüße|mit freundlichen grüßen|grüße|saludos|un saludo"
    r"|cordialement|bien à vous|groet|groeten|met vriendelijke groet|saluti|cordiali saluti"
    r"|abraço|abraços|atenciosamente|salam|terima kasih|liebe grüße|lg"
    r"|mit freundlichen grüssen|(freundliche|viele|beste|liebe|herzliche) grüsse|grüsse"
    r"|(com os )?melhores cumprimentos|cumprimentos|à\+|a\+)(?!\w).{0,20}$",
    re.I,
)


def slot_note(text: str, inviter: str = "") -> tuple[str, str]:
    """The note of a network's invitation mail (any LinkedIn era, or a look-alike format),
    and the name on the profile card under it ("" when there is none)."""
    lines = [line.strip() for line in text.splitlines()]
    start = 0
    for i, line in enumerate(lines[:12]):
        if line.lower() == "linkedin" and i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:
            start = i + 2
        elif _INTRO.search(line) or (line and set(line) == {"-"} and i >= start):
            start = i + 1
    note: list[str] = []
    card = ""
    for line in lines[start:]:
        if not note and not line:
            continue
        if inviter and line.casefold() == inviter.casefold():
            card = line
            break
        if _STOP.match(line):
            if _PROFILE.match(line):
                note, card = _without_card(note)
            break
        note.append(line)
    return "\n".join(note).strip(), card


def _without_card(lines: list[str]) -> tuple[list[str], str]:
    """Above 'View profile' sits the inviter's card (name, headline): not part of the note."""
    while lines and not lines[-1]:
        lines = lines[:-1]
    if "" not in lines:
        return lines, ""
    cut = len(lines) - 1 - lines[::-1].index("")
    card = lines[cut + 1 :]
    if len(card) <= 3 and not card[0].endswith((".", "!", "?", ",")):
        return lines[:cut], card[0]
    return lines, ""


def own_text(text: str) -> str:
    """The part of a mail its sender wrote: no forwarded or quoted message below it."""
    found = _FORWARD.search(text)
    kept = text[: found.start()] if found else text
    return "\n".join(line for line in kept.splitlines() if not line.lstrip().startswith(">"))


@lru_cache(maxsize=16)  # classify asks twice per mail (default sentence, then intent)
def direct_note(text: str) -> str:
    """A person's own mail: the text above the signature, without quoted lines."""
    kept: list[str] = []
    for line in own_text(text).splitlines():
        if line.rstrip() == "--" or line.startswith("-- "):
            break
        if re.match(r"^(On .+wrote|Am .+schrieb|Le .+a écrit|El .+escribió):$", line.strip()):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line.strip())
    return "\n".join(kept).strip()


def normalise(text: str) -> str:
    """Lower case, straight quotes, no punctuation but apostrophes, single spaces."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'").lower()
    text = re.sub(r"[^\w'\s]", " ", text)
    return " ".join(text.split())


# An intent clause this long or shorter is a bare request; a longer one carries more.
GENERIC_WORDS = 20
# Only a run's first mark may start a match: a long run of dots before a word would
# otherwise be retried from every mark (quadratic).
_CLAUSE_END = re.compile(r"(?<![.!?;:…])[.!?;:…]+(?=\s|$)|[¿¡]")


def strip_boilerplate(
    note: str, extra: Mapping[str, Iterable[str]] | None = None
) -> tuple[str, str | None]:
    """What the note says beyond greeting, signature, default sentences and bare requests
    to connect in the sender's own words (an `intents` clause of at most `GENERIC_WORDS`
    words), and the language of what was removed (None when nothing was)."""
    lines = _message_lines(note)
    body = normalise(" ".join(lines))
    language = None
    for lang, sentence in defaults(_freeze(extra)):
        if sentence and sentence in body:
            body = body.replace(sentence, " ")
            language = language or lang
    for clause in clauses(" ".join(lines)):
        wish = _intent_of(clause) if len(clause.split()) <= GENERIC_WORDS else None
        if wish and clause in body:
            body = body.replace(clause, " ", 1)
            language = language or wish
    return " ".join(body.split()), language


def clauses(text: str) -> list[str]:
    """The text cut at sentence ends (and colons, semicolons), each clause normalised."""
    return [c for c in (normalise(part) for part in _CLAUSE_END.split(text)) if c]


def contains_default(text: str, extra: Mapping[str, Iterable[str]] | None = None) -> bool:
    body = normalise(direct_note(text))
    return any(sentence in body for _, sentence in defaults(_freeze(extra)))


def intent(text: str) -> str | None:
    """The language in which a person's own words ask to connect, if they do (clause by
    clause, so a pattern may be anchored at a clause's end: "let's connect" is a request,
    "let's connect on Tuesday about the invoice" is not)."""
    lines = _message_lines(direct_note(text))
    return next(filter(None, map(_intent_of, clauses(" ".join(lines)))), None)


def _message_lines(note: str) -> list[str]:
    """The note's non-blank lines without the greeting above and the signature below."""
    lines = [line for line in note.splitlines() if line.strip()]
    if lines and (_GREETING.match(lines[0]) or _is_salutation(lines[0])):
        lines = lines[1:]
    return _drop_signature(lines)


def _intent_of(clause: str) -> str | None:
    return next((lang for lang, rx in _intents() if rx.search(clause)), None)


@cache
def _intents() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple(
        (lang, re.compile(pattern))
        for lang, table in _data().items()
        for pattern in table.get("intents", ())
    )


@cache
def _data() -> dict[str, dict[str, list[str]]]:
    text = resources.files("askfirst").joinpath("boilerplate.toml").read_text("utf-8")
    data: dict[str, dict[str, list[str]]] = tomllib.loads(text)
    return data


def _is_salutation(line: str) -> bool:
    """'Pat,' alone on a line: a name and a comma (or a colon, as in Spanish)."""
    return bool(re.fullmatch(r"[\w .'-]{1,40}[,:]", line.strip()))


def _drop_signature(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if _CLOSING.match(line.strip()) or re.match(r"^-\s?\w", line.strip()):
            return lines[:i]
    last = lines[-1].rstrip() if lines else ""
    if len(lines) > 1 and len(last.split()) <= 3 and not last.endswith((".", "!", "?")):
        lines = lines[:-1]  # a bare name under the text ("Loved your talk!" is not one)
        closing = lines[-1].rstrip() if lines else ""
        if len(lines) > 1 and len(closing.split()) <= 3 and closing.endswith(","):
            lines = lines[:-1]  # and the closing word above it ("Groet," / "Abraço,")
    return lines


Frozen = tuple[tuple[str, tuple[str, ...]], ...]


def _freeze(extra: Mapping[str, Iterable[str]] | None) -> Frozen:
    return tuple(sorted((k, tuple(v)) for k, v in (extra or {}).items()))


@cache
def defaults(extra: Frozen = ()) -> tuple[tuple[str, str], ...]:
    """(language, normalised sentence), longest first: the data file plus config."""
    pairs = [(lang, normalise(s)) for lang, table in _data().items() for s in table["sentences"]]
    pairs += [(lang, normalise(s)) for lang, sentences in extra for s in sentences]
    return tuple(sorted(set(pairs), key=lambda p: -len(p[1])))
