"""Authentication-Results read by RFC 8601's grammar, and what counts as an aligned pass."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from askfirst.authenticity import aligned, judge, trusted_block
from askfirst.authresults import read
from askfirst.posing import skeleton

OURS = "mx.example.test"


# -- the grammar (RFC 8601 §2.2) -----------------------------------------------------------


def test_a_comment_may_hold_semicolons_and_equals_signs() -> None:
    block = read(
        f"{OURS} 1; dkim=pass (2048-bit key; unprotected) header.d=linkedin.com "
        "header.i=@linkedin.com header.b=Ab/c+d; dmarc=pass (p=reject dis=none) "
        "header.from=linkedin.com"
    )
    assert (block.authserv_id, block.version, block.error) == (OURS, "1", "")
    dkim, dmarc = block.results
    assert (dkim.method, dkim.result, dkim.prop("header.d")) == ("dkim", "pass", "linkedin.com")
    assert (dkim.prop("header.i"), dkim.prop("header.b")) == ("@linkedin.com", "Ab/c+d")
    assert (dmarc.method, dmarc.prop("header.from")) == ("dmarc", "linkedin.com")


def test_nested_comments_quoted_strings_reason_and_folding() -> None:
    block = read(
        f'({OURS} (nested; a=b)) {OURS};\r\n\tdkim=fail reason="bad; sig=x" (why (not))\r\n'
        ' header.d="evil.test"; spf=pass smtp.mailfrom=bounce@evil.test;'
    )
    assert block.authserv_id == OURS and not block.error
    dkim, spf = block.results
    assert (dkim.result, dkim.reason, dkim.prop("header.d")) == ("fail", "bad; sig=x", "evil.test")
    assert spf.prop("smtp.mailfrom") == "bounce@evil.test"


def test_none_and_method_versions_and_nonstandard_pairs() -> None:
    assert read(f"{OURS} 1; none").results == ()
    assert read(f"{OURS}; none").error == ""
    block = read(f"{OURS}; dkim/1=pass header.d=x.test; dmarc=pass action=none header.from=x.test")
    assert [r.method for r in block.results] == ["dkim", "dmarc"]
    assert block.results[1].prop(".action") == "none"


@pytest.mark.parametrize(
    "header",
    [
        f"{OURS}; dkim=pass header.d=linkedin.com (unterminated",
        f'{OURS}; dkim=pass reason="unterminated',
        f"{OURS}; dkim=pass ) header.d=linkedin.com",
        f"{OURS}; dkim pass header.d=linkedin.com",
        f"{OURS} dkim=pass header.d=linkedin.com",
        f"{OURS};",
        "spf=pass smtp.mailfrom=x.test; dkim=pass header.d=x.test",
    ],
)
def test_a_header_off_the_grammar_yields_no_results(header: str) -> None:
    block = read(header)
    assert block.results == () and block.error


# -- which block counts, and for which domain ---------------------------------------------


def test_only_the_topmost_block_with_our_id_counts() -> None:
    real = f"{OURS}; dkim=fail header.d=linkedin.com; dmarc=fail header.from=linkedin.com"
    forged = f"{OURS}; dkim=pass header.d=linkedin.com; dmarc=pass header.from=linkedin.com"
    other = "mx.elsewhere.test; dkim=pass header.d=linkedin.com"
    assert trusted_block([other, real, forged], OURS) == read(real)
    verdict = judge([other, real, forged], OURS, "linkedin.com")
    assert verdict.checked and not verdict.passed and verdict.failed


def test_forged_blocks_and_a_missing_id_are_not_trusted() -> None:
    forged = "mx.elsewhere.test; dkim=pass header.d=linkedin.com"
    assert not judge([forged], OURS, "linkedin.com").checked
    assert not judge([forged], "", "linkedin.com").checked
    assert "unset" in judge([forged], "", "linkedin.com").evidence
    assert not judge([], OURS, "linkedin.com").checked


def test_a_dkim_pass_counts_only_for_its_own_signing_domain() -> None:
    other = judge([f"{OURS}; dkim=pass header.d=evil.test"], OURS, "linkedin.com")
    assert other.checked and not other.passed
    by_i = judge([f"{OURS}; dkim=pass header.i=@mail.linkedin.com"], OURS, "linkedin.com")
    assert by_i.passed
    bare = judge([f"{OURS}; dkim=pass"], OURS, "linkedin.com")
    assert not bare.passed
    tld = judge([f"{OURS}; dkim=pass header.d=com"], OURS, "linkedin.com")
    assert not tld.passed


def test_an_explicit_dmarc_fail_wins_over_any_pass() -> None:
    header = f"{OURS}; dkim=pass header.d=linkedin.com; dmarc=fail header.from=linkedin.com"
    verdict = judge([header], OURS, "linkedin.com")
    assert (verdict.passed, verdict.failed) == (False, True)


def test_a_dmarc_pass_speaks_for_its_header_from_only() -> None:
    assert judge([f"{OURS}; dmarc=pass header.from=linkedin.com"], OURS, "linkedin.com").passed
    assert not judge([f"{OURS}; dmarc=pass header.from=evil.test"], OURS, "linkedin.com").passed


def test_an_unreadable_trusted_block_is_no_pass() -> None:
    verdict = judge([f"{OURS}; dkim=pass header.d=linkedin.com (x"], OURS, "linkedin.com")
    assert verdict.checked and not verdict.passed and "unreadable" in verdict.evidence


def test_relaxed_alignment() -> None:
    assert aligned("linkedin.com", "e.linkedin.com")
    assert aligned("E.LinkedIn.com.", "linkedin.com")
    assert not aligned("linkedin.com", "notlinkedin.com")
    assert not aligned("linkedin.com", "com")
    assert not aligned("", "linkedin.com")


def test_check_advises_where_to_find_the_authserv_id() -> None:
    from askfirst.authenticity import authserv_advice

    advice = authserv_advice("", "require") or ""
    assert "classify.authserv_id is unset" in advice
    assert all(w in advice for w in ("OpenDKIM", "rspamd", "mx.google.com", "prod.outlook.com"))
    assert authserv_advice(OURS, "require") is None
    assert authserv_advice("", "off") is None


def test_a_leading_wildcard_matches_any_host_under_it() -> None:
    from askfirst.authenticity import ours

    assert ours("BN8PR12MB3284.namprd12.prod.outlook.com", "*.prod.outlook.com")
    assert not ours("prod.outlook.com.attacker.example", "*.prod.outlook.com")
    assert not ours("evilprod.outlook.com", "*.prod.outlook.com")
    assert not ours(".prod.outlook.com", "*.prod.outlook.com")
    assert ours("MX.Example.Test", "mx.example.test") and not ours("", "")


@given(st.text())
def test_reading_any_text_never_raises(text: str) -> None:
    block = read(text)
    assert block.error or block.results or "none" in text.lower()
    assert isinstance(skeleton(text), str)
