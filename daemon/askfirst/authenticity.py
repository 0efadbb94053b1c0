"""Is a mail really from the domain it claims? Read from Authentication-Results (RFC 8601).

Only results stamped by the owner's own server (`classify.authserv_id`) count, and only the
topmost header with that id: RFC 8601 §5 has a receiver remove (or ignore) older copies
with its own id, so any such header further down may have been written by the sender.

A domain is authenticated by a DKIM pass whose own signing domain (`header.d`, else the
domain of `header.i`) is aligned with it (relaxed, RFC 7489 §3.1.1), or by a DMARC pass for
it (`header.from`). An explicit DMARC fail for the domain wins over any pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from askfirst.authresults import AuthResults, Result, read


@dataclass(frozen=True)
class Authenticity:
    checked: bool  # a trusted Authentication-Results header exists for this mail
    passed: bool  # DKIM or DMARC passed, aligned with the domain, and DMARC did not fail
    failed: bool  # DMARC failed for the domain, or an aligned DKIM failed with no pass
    evidence: str


def aligned(domain: str, other: str) -> bool:
    """Relaxed alignment: one is the other or a subdomain of it (and the shorter one is
    more than a top-level label, so `com` aligns with nothing)."""
    domain, other = domain.lower().strip(".").strip(), other.lower().strip(".").strip()
    if not domain or not other:
        return False
    shorter = min(domain, other, key=len)
    if domain == other:
        return "." in domain
    return "." in shorter and (domain.endswith("." + other) or other.endswith("." + domain))


def ours(stamp: str, authserv_id: str) -> bool:
    """Is `stamp` the configured id? A leading `*.` stands for any host under the rest
    (`*.prod.outlook.com`: Microsoft's stamping host differs from mail to mail)."""
    stamp, wanted = stamp.strip().lower(), authserv_id.strip().lower()
    if wanted.startswith("*."):
        return stamp.endswith(wanted[1:]) and len(stamp) > len(wanted) - 1
    return bool(wanted) and stamp == wanted


def trusted_block(headers: list[str], authserv_id: str) -> AuthResults | None:
    """The topmost header stamped with `authserv_id` (headers in the order of the mail)."""
    if not authserv_id.strip():
        return None
    for header in headers:
        block = read(header)
        if ours(block.authserv_id, authserv_id):
            return block
    return None


def judge(headers: list[str], authserv_id: str, domain: str) -> Authenticity:
    """What the trusted Authentication-Results say about `domain`."""
    if not authserv_id.strip():
        return Authenticity(False, False, False, "classify.authserv_id unset")
    block = trusted_block(headers, authserv_id)
    if block is None:
        return Authenticity(False, False, False, f"no Authentication-Results from {authserv_id}")
    if block.error:
        return Authenticity(True, False, False, f"unreadable Authentication-Results: {block.error}")
    dkim_pass = dkim_fail = dmarc_pass = dmarc_fail = False
    seen: list[str] = []
    for result in block.results:
        about = _subject(result)
        if not about:
            continue
        seen.append(f"{result.method}={result.result} ({about})")
        if result.method == "dmarc" and about == domain.lower().strip("."):
            dmarc_pass |= result.result == "pass"
            dmarc_fail |= result.result == "fail"
        elif result.method == "dkim" and aligned(about, domain):
            dkim_pass |= result.result == "pass"
            dkim_fail |= result.result in ("fail", "permerror")
    passed = (dkim_pass or dmarc_pass) and not dmarc_fail
    failed = dmarc_fail or (dkim_fail and not passed)
    return Authenticity(True, passed, failed, ", ".join(seen) or "no dkim/dmarc result")


def _subject(result: Result) -> str:
    """The domain a DKIM or DMARC result speaks for ("" for other methods)."""
    if result.method == "dkim":
        signer = result.prop("header.d") or result.prop("header.i").rpartition("@")[2]
        return signer.lower().strip(".")
    if result.method == "dmarc":
        return result.prop("header.from").rpartition("@")[2].lower().strip(".")
    return ""


def authserv_advice(authserv_id: str, mode: str) -> str | None:
    """What `askfirst check` says when no Authentication-Results can be trusted."""
    if authserv_id.strip() or mode == "off":
        return None
    return (
        "warning: classify.authserv_id is unset, so no Authentication-Results is trusted and "
        f"every network invitation is handed over (authenticity = {mode!r}). Set it to the "
        "first word of the Authentication-Results header your own server adds to incoming "
        "mail (look at one in the raw source): your host name with Dovecot/Postfix and "
        "OpenDKIM or rspamd, mx.google.com at Gmail, *.prod.outlook.com at Microsoft (a "
        "leading *. matches any host under it)."
    )
