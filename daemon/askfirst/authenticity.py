"""Is a mail really from the domain it claims? Read from Authentication-Results (RFC 8601).

Only results stamped by the owner's own server (`classify.authserv_id`) count: anyone can
write an Authentication-Results header into a mail, so every other one is ignored. A
domain is authenticated by DKIM pass with a signing domain aligned with it, or DMARC pass
for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RESULT = re.compile(r"\b(dkim|dmarc|spf)\s*=\s*([a-z]+)", re.I)
_PROP = re.compile(r"\bheader\.(d|i|from)\s*=\s*@?([^\s;()]+)", re.I)


@dataclass(frozen=True)
class Authenticity:
    checked: bool  # trusted results exist for this mail
    passed: bool  # DKIM or DMARC passed, aligned with the domain
    failed: bool  # DKIM or DMARC explicitly failed for the domain
    evidence: str


def aligned(domain: str, other: str) -> bool:
    """Relaxed alignment: one is the other or a subdomain of it."""
    domain, other = domain.lower().rstrip("."), other.lower().rstrip(".")
    return domain == other or domain.endswith("." + other) or other.endswith("." + domain)


def judge(headers: list[str], authserv_id: str, domain: str) -> Authenticity:
    """What the trusted Authentication-Results say about `domain`."""
    trusted = [h for h in headers if _authserv(h) == authserv_id.lower()] if authserv_id else []
    if not trusted:
        why = "no trusted Authentication-Results" if authserv_id else "classify.authserv_id unset"
        return Authenticity(False, False, False, why)
    passed = failed = False
    seen: list[str] = []
    for header in trusted:
        for clause in header.split(";")[1:]:
            result = _RESULT.search(clause)
            if not result or result.group(1).lower() == "spf":
                continue
            method, outcome = result.group(1).lower(), result.group(2).lower()
            prop = _PROP.search(clause)
            about = prop.group(2).rpartition("@")[2] if prop else ""
            seen.append(f"{method}={outcome}{f' ({about})' if about else ''}")
            if about and not aligned(about, domain):
                continue
            passed |= outcome == "pass"
            failed |= outcome in ("fail", "permerror") and bool(about)
    return Authenticity(True, passed, failed and not passed, ", ".join(seen) or "no dkim/dmarc")


def _authserv(header: str) -> str:
    first = header.split(";", 1)[0].strip().split()
    return first[0].lower() if first else ""
