"""ooo.return_date: the return date of an out-of-office in en, de, fr, es, or None."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askfirst.ooo import return_date

RECEIVED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)  # a Friday
DEC_7 = date(2026, 12, 7)  # a Monday
DEC_8 = date(2026, 12, 8)


def read(text: str, received: datetime = RECEIVED, subject: str = "") -> date | None:
    return return_date(subject, text, received)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am out of the office until 3 December.", date(2026, 12, 3)),
        ("I will be back on Monday, 7 December 2026.", DEC_7),
        ("Thanks for your mail, returning 12/07", DEC_7),  # month-first is the sooner reading
        ("Returning 25/11", date(2026, 11, 25)),  # only one reading is a date
        ("Through 12/7/2026", DEC_7),  # day-first (12 July 2026) is in the past
        ("Out of office until 2026-12-07", DEC_7),
        ("Out until December 7th, will reply then", DEC_7),
        ("I'm away until the 7th of December.", DEC_7),
        ("Back in the office on Dec. 7, 2026", DEC_7),
        ("I will return on Mon 7 Dec", DEC_7),
        ("I am on leave until and including 7 December", DEC_7),
        ("I am away from 1 December until 7 December.", DEC_7),
        ("I'm back on Monday.", date(2026, 11, 23)),  # a weekday alone: the next one
    ],
)
def test_english(text: str, expected: date) -> None:
    assert read(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ich bin bis zum 7. Dezember nicht im Büro.", DEC_7),
        ("Abwesend bis 07.12.2026", DEC_7),
        ("Ab dem 8.12. wieder erreichbar.", DEC_8),
        ("Ich bin bis einschließlich Montag, den 7. Dezember 2026 nicht im Büro.", DEC_7),
        ("Ab Dienstag, 8. Dez. bin ich wieder im Büro.", DEC_8),
        ("Wieder im Büro ab 8.12.26", DEC_8),
        ("Ich bin am 8.12. wieder da.", DEC_8),
        ("Bis 07/12 bin ich unterwegs.", DEC_7),  # day-first in German
        ("Vom 1.12. bis 7.12. bin ich nicht erreichbar.", DEC_7),
        ("Ich bin bis Montag nicht da.", date(2026, 11, 23)),
    ],
)
def test_german(text: str, expected: date) -> None:
    assert read(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Je suis absent jusqu'au 7 décembre.", DEC_7),
        ("Je suis absente jusqu’au 07/12/2026 inclus.", DEC_7),  # a typographic apostrophe
        ("Je serai de retour le lundi 7 décembre.", DEC_7),
        ("De retour au bureau le 1er décembre.", date(2026, 12, 1)),
        ("Retour prévu le 8 decembre", DEC_8),
        ("À partir du 8 décembre je serai de nouveau disponible.", DEC_8),
        ("Absent jusqu'à lundi.", date(2026, 11, 23)),
    ],
)
def test_french(text: str, expected: date) -> None:
    assert read(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Estoy fuera de la oficina hasta el 7 de diciembre.", DEC_7),
        ("Volveré el 7 de diciembre.", DEC_7),
        ("Estaré fuera hasta el lunes 7 de diciembre de 2026.", DEC_7),
        ("Regreso el 07/12.", DEC_7),  # day-first in Spanish
        ("Hasta el día 7 de diciembre no tendré acceso al correo.", DEC_7),
        ("A partir del 8 de diciembre estaré de vuelta.", DEC_8),
        ("Volveré a la oficina el martes 8 de dic.", DEC_8),
    ],
)
def test_spanish(text: str, expected: date) -> None:
    assert read(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Thank you for your message.",
        "I'll get back to you soon.",
        "I am out of the office until further notice.",
        "Bis bald!",
        "Ich bin bis 17.30 Uhr erreichbar.",
        "Ich bin heute bis 10.11 Uhr in einer Besprechung.",
        "Ab dem 1.12. bin ich im Urlaub.",  # "ab" without "wieder" starts an absence
        "Jusqu'à nouvel ordre.",
        "Hasta luego.",
        "until 31 February",
    ],
)
def test_no_return_date(text: str) -> None:
    assert read(text) is None


@pytest.mark.parametrize(
    ("text", "received", "expected"),
    [
        # past dates are ignored, also a stale auto-reply nobody switched off
        ("until 3 November", RECEIVED, None),
        ("until 3 December 2025", RECEIVED, None),
        ("until 3 December", datetime(2026, 12, 5, tzinfo=UTC), None),
        # more than a year ahead is ignored
        ("until 7 December 2028", RECEIVED, None),
        ("until 2027-11-22", RECEIVED, None),
        ("until 2027-11-20", RECEIVED, date(2027, 11, 20)),
        # a date without a year: the occurrence nearest to the reception, here the next year
        ("bis zum 5. Januar", datetime(2026, 12, 20, tzinfo=UTC), date(2027, 1, 5)),
        ("until 20 November", RECEIVED, date(2026, 11, 20)),
        ("bis 29.02.", datetime(2028, 2, 1, tzinfo=UTC), date(2028, 2, 29)),
        ("bis 29.02.", datetime(2027, 2, 1, tzinfo=UTC), None),
        # English numerics: the sooner reading, whether the sender wrote US or UK order
        ("back 05/01", datetime(2026, 12, 20, tzinfo=UTC), date(2027, 1, 5)),
        ("back 1/5", datetime(2026, 12, 20, tzinfo=UTC), date(2027, 1, 5)),
    ],
)
def test_years(text: str, received: datetime, expected: date | None) -> None:
    assert read(text, received) == expected


def test_the_subject_counts_and_comes_first() -> None:
    subject = "Automatische Antwort: Abwesend bis 07.12.2026"
    assert read("Back on 9 December", subject=subject) == DEC_7
    assert read("", subject=subject) == DEC_7


def test_a_later_cue_is_used_when_the_first_has_no_usable_date() -> None:
    assert read("I'm back at my desk soon; until 7 December I read no mail") == DEC_7


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(), st.text(), st.datetimes(timezones=st.just(UTC)))
def test_never_raises(subject: str, text: str, received: datetime) -> None:
    found = return_date(subject, text, received)
    assert found is None or timedelta(0) <= found - received.date() <= timedelta(days=366)


PIECES = [
    "until ", "bis ", "ab ", "wieder ", "jusqu'au ", "hasta el ", "back on ", "de retour le ",
    "Monday", "lundi", ", ", " ", ".", "/", "-", "0", "7", "12", "29", "31", "99", "2026",
    "2027", "26", "December", "Dez.", "de ", "of ", "th", "er", "Uhr", "\n",
]  # fmt: skip


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=20), st.datetimes(timezones=st.just(UTC)))
def test_never_raises_on_near_misses(pieces: list[str], received: datetime) -> None:
    found = return_date("", "".join(pieces), received)
    assert found is None or timedelta(0) <= found - received.date() <= timedelta(days=366)


def test_a_long_mail_is_read_quickly() -> None:
    assert read("until the " * 50_000 + "until 7 December") is None  # beyond the scan limit
    assert read("bis " * 50_000) is None
