"""The return date an out-of-office names, so the decline waits until the inviter is back. Pure.

Reads the common forms in English, German, French and Spanish: a cue ("until", "back on",
"bis zum", "jusqu'au", "de retour le", "hasta el", "volveré el", ...), then an optional
weekday, then a date. Anything it cannot read is None, never an exception: a missed date
only means the usual deadline, a wrong one would hold a decline for months.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Literal

Lang = Literal["en", "de", "fr", "es"]

_MAX_AHEAD = timedelta(days=366)
_LATEST = date.max - _MAX_AHEAD  # received later than this: nothing can be read safely
_SCAN_LIMIT = 20_000  # characters: the return date is near the top, not in a quoted thread


def _names(table: tuple[str, ...], start: int) -> dict[str, int]:
    return {name: number for number, names in enumerate(table, start) for name in names.split()}


# Month names and abbreviations, lower case, with and without accents: en de fr es.
_MONTHS = _names(
    (
        "january jan januar jänner janvier janv enero ene",
        "february feb februar février fevrier févr fevr febrero",
        "march mar märz maerz mrz mars marzo",
        "april apr avril avr abril abr",
        "may mai mayo",
        "june jun juni juin junio",
        "july jul juli juillet juil julio",
        "august aug août aout agosto ago",
        "september sep sept septembre septiembre setiembre",
        "october oct oktober okt octobre octubre",
        "november nov novembre noviembre",
        "december dec dezember dez décembre decembre déc diciembre dic",
    ),
    start=1,
)
_WEEKDAYS = _names(
    (
        "monday mon montag lundi lunes",
        "tuesday tue tues dienstag mardi martes",
        "wednesday wed mittwoch mercredi miércoles miercoles",
        "thursday thu thur thurs donnerstag jeudi jueves",
        "friday fri freitag vendredi viernes",
        "saturday sat samstag sonnabend samedi sábado sabado",
        "sunday sun sonntag dimanche domingo",
    ),
    start=0,
)


def _one_of(names: dict[str, int]) -> str:
    """A regex alternation, longest first so "sept" wins over "sep"."""
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


# Between the cue and the date: small words ("on the", "zum", "le", "el día") and an optional
# weekday ("Monday,", "lundi", "Montag, den"), which is the answer when no date follows.
_FILLER = rf"""(?:[\s,:]|\b(?:on|the|from|zum|am|dem|den|le|au|du|el|del|d[ií]a)\b)*
    (?:(?P<wd>{_one_of(_WEEKDAYS)})(?!\w)\.?(?:[\s,]|\b(?:the|der|den|dem|le|el)\b)*)?"""

_DATE = re.compile(
    rf"""
      (?P<iso_y>[0-9]{{4}})-(?P<iso_m>[0-9]{{1,2}})-(?P<iso_d>[0-9]{{1,2}})      # 2026-12-07
    | (?P<n1>[0-9]{{1,2}})(?P<sep>[./])(?P<n2>[0-9]{{1,2}})                    # 7.12. 12/07
      (?:(?P=sep)(?P<ny>[0-9]{{4}}|[0-9]{{2}})?)?                              # .2026 /26
      (?![0-9]|\s*(?:uhr|h\b|[ap]\.?m\b|:))                                  # not 10.30 Uhr
    | (?P<d1>[0-9]{{1,2}})(?:st|nd|rd|th|er|\.)?\s*(?:of\s+|de\s+)?            # 7th of, 7. 7 de
      (?P<m1>{_one_of(_MONTHS)})(?!\w)\.?(?:,?\s*(?:de\s+)?(?P<y1>[0-9]{{4}}))? # December 2026
    | (?P<m2>{_one_of(_MONTHS)})(?!\w)\.?\s*(?P<d2>[0-9]{{1,2}})(?:st|nd|rd|th)?  # December 7th
      (?![0-9])(?:,?\s*(?P<y2>[0-9]{{4}}))?                                    # , 2026
    """,
    re.VERBOSE,
)

# (language, cue, tail): the cue comes before the date; a tail, when given, must follow the
# date in the same clause ("ab dem 8.12. wieder erreichbar": "ab" alone also starts absences).
_CUE_TABLE: tuple[tuple[Lang, str, str], ...] = (
    ("en", r"(?:until|till|through|thru)(?:\s+and\s+including)?", ""),
    ("en", r"back(?:\s+(?:in|at)\s+(?:the\s+)?(?:office|work))?", ""),
    ("en", r"return(?:ing)?(?:\s+to\s+(?:the\s+)?(?:office|work))?", ""),
    ("en", r"(?:in|at)\s+the\s+office(?:\s+again)?|available\s+again", ""),
    ("de", r"bis(?:\s+(?:einschließlich|einschl\.|inklusive|inkl\.))?", ""),
    ("de", r"zurück|wieder\s+(?:im\s+büro\s+|erreichbar\s+|da\s+)?(?:am|ab)", ""),
    ("de", r"ab|am", r"wieder|zurück"),
    ("fr", r"jusqu'(?:au|à|a)", ""),
    ("fr", r"retour(?:\s+prévu)?(?:\s+au\s+bureau)?|reviendrai|rentrerai|serai\s+là", ""),
    ("fr", r"(?:à|a)\s+partir\s+du|dès\s+le", r"retour|disponible|joignable"),
    ("es", r"hasta", ""),
    ("es", r"(?:volveré|volvere|vuelvo|regresaré|regresare|regreso)(?:\s+a\s+la\s+oficina)?", ""),
    ("es", r"de\s+vuelta|reincorporaré|reincorporare|en\s+la\s+oficina", ""),
    ("es", r"a\s+partir\s+del", r"vuelta|disponible|volver|regres|localizable"),
)
_CUES = tuple(
    (
        lang,
        re.compile(rf"\b(?:{cue})(?!\w){_FILLER}", re.VERBOSE),
        re.compile(rf"[^.;!?\n]{{0,25}}?\b(?:{tail})") if tail else None,
    )
    for lang, cue, tail in _CUE_TABLE
)

Reading = tuple[int | None, int, int]  # year (None: not written), month, day


def return_date(subject: str, text: str, received: datetime) -> date | None:
    """The date an out-of-office says its sender is back (or away until), or None.

    The first cue in the subject or text that is followed by a usable date wins. A date
    without a year is its occurrence nearest to `received`; a date before `received` (a
    stale auto-reply) or more than a year after it is ignored.
    """
    today = received.date()
    if today > _LATEST:
        return None
    body = _normalise(f"{subject}\n{text}"[:_SCAN_LIMIT])
    hits = [(cue, lang, tail) for lang, pattern, tail in _CUES for cue in pattern.finditer(body)]
    for cue, lang, tail in sorted(hits, key=lambda hit: hit[0].start()):
        found = _date_after(body, cue, lang, tail, today)
        if found is not None:
            return found
    return None


def _normalise(text: str) -> str:
    """Lower case, composed accents, plain spaces and apostrophes ("jusqu’au")."""
    return unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("`", "'")


def _date_after(
    body: str, cue: re.Match[str], lang: Lang, tail: re.Pattern[str] | None, today: date
) -> date | None:
    written = _DATE.match(body, cue.end())
    if tail is not None and not tail.match(body, written.end() if written else cue.end()):
        return None
    if written is None:  # "back on Monday": the next such weekday
        weekday = _WEEKDAYS.get(cue["wd"] or "")
        return None if weekday is None else _next_weekday(today, weekday)
    options = (_resolve(reading, today) for reading in _readings(written, lang))
    usable = [d for d in options if d is not None and timedelta(0) <= d - today <= _MAX_AHEAD]
    return min(usable, default=None)


def _next_weekday(today: date, weekday: int) -> date:
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _readings(written: re.Match[str], lang: Lang) -> list[Reading]:
    """What a written date may mean; only an English "12/07" has two readings."""
    if written["iso_y"]:
        return [(int(written["iso_y"]), int(written["iso_m"]), int(written["iso_d"]))]
    if written["n1"]:
        first, second, year = int(written["n1"]), int(written["n2"]), _year(written["ny"])
        if written["sep"] == "." or lang != "en":
            return [(year, second, first)]  # day first: 07.12.2026, and 07/12 in de, fr, es
        return [(year, second, first), (year, first, second)]  # the sooner usable one wins
    if written["d1"]:
        return [(_year(written["y1"]), _MONTHS[written["m1"]], int(written["d1"]))]
    return [(_year(written["y2"]), _MONTHS[written["m2"]], int(written["d2"]))]


def _year(text: str | None) -> int | None:
    if not text:
        return None
    return int(text) + 2000 if len(text) == 2 else int(text)


def _resolve(reading: Reading, today: date) -> date | None:
    """The date a reading names; without a year, the occurrence nearest to `today`."""
    year, month, day = reading
    years = (year,) if year is not None else (today.year - 1, today.year, today.year + 1)
    options: list[date] = []
    for candidate in years:
        with contextlib.suppress(ValueError):
            options.append(date(candidate, month, day))
    return min(options, key=lambda d: (abs(d - today), d < today), default=None)
