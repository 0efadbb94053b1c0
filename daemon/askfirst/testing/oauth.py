"""OAuth2 on the rig: a token store and a tiny RFC 7662 introspection server on loopback.

Dovecot's oauth2 passdb asks the server about every XOAUTH2 or OAUTHBEARER login; the SMTP
bridge checks XOAUTH2 against the same store. `issue` makes a token, `expire` ends it early.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from askfirst.testing.users import password_of

# Rewritten at every start (the introspection server's port is OS-assigned).
OAUTH2_CONF = string.Template("""\
# the rig's RFC 7662 introspection endpoint (POST token=...), see OAuthTokens
introspection_url = http://127.0.0.1:${port}/introspect
introspection_mode = post
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
""")


@dataclass
class _Token:
    user: str
    expires: float  # time.monotonic(): a token's life is real time, not the daemon's clock


class OAuthTokens:
    """Bearer tokens the rig accepts, shared by the introspection server (Dovecot) and the
    SMTP bridge; thread-safe (both servers have their own threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._introspections = 0
        self._smtp_checks = 0

    def issue(self, user: str, ttl: float = 3600) -> str:
        """A new token for rig user `user`, active for `ttl` seconds."""
        password_of(user)  # refuses a non-rig user
        token = "rig-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = _Token(user.lower(), time.monotonic() + ttl)
        return token

    def expire(self, token: str) -> None:
        """End `token` now; it is then refused, as an expired one is."""
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                raise KeyError("not a token this rig issued")
            found.expires = 0.0

    def owner(self, token: str) -> str | None:
        """The user `token` is active for, or None (unknown or expired)."""
        found = self.lookup(token)
        return None if found is None else found[0]

    def lookup(self, token: str) -> tuple[str, float] | None:
        """(user, seconds left) while `token` is active, else None."""
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                return None
            left = found.expires - time.monotonic()
            return (found.user, left) if left > 0 else None

    def count_introspection(self) -> None:
        with self._lock:
            self._introspections += 1

    def count_smtp_check(self) -> None:
        with self._lock:
            self._smtp_checks += 1

    @property
    def introspections(self) -> int:
        """HTTP requests answered by the introspection server (one per Dovecot login)."""
        with self._lock:
            return self._introspections

    @property
    def smtp_checks(self) -> int:
        """AUTH XOAUTH2 attempts the SMTP bridge checked."""
        with self._lock:
            return self._smtp_checks

    def clear(self) -> None:
        """Forget every token and zero the counters."""
        with self._lock:
            self._tokens.clear()
            self._introspections = 0
            self._smtp_checks = 0


class TokenServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tokens: OAuthTokens) -> None:
        super().__init__(("127.0.0.1", 0), _IntrospectionHandler)
        self.tokens = tokens

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _IntrospectionHandler(BaseHTTPRequestHandler):
    """POST /introspect (RFC 7662: form field `token`; 200 with `active` true or false) and
    GET /tokeninfo?access_token=... (Google style: 200 while active, else 401)."""

    server: TokenServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read Dovecot's log, not ours."""

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _describe(self, token: str) -> dict[str, object] | None:
        self.server.tokens.count_introspection()
        found = self.server.tokens.lookup(token)
        if found is None:
            return None
        user, left = found
        return {
            "active": True,
            "username": user,
            "email": user,
            "token_type": "Bearer",
            "scope": "imap smtp",
            "expires_in": max(1, int(left)),
        }

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/introspect":
            self._answer(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode(errors="replace"))
        token = (form.get("token") or [""])[0]
        self._answer(200, self._describe(token) or {"active": False})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/tokeninfo":
            self._answer(404, {"error": "not_found"})
            return
        token = (parse_qs(url.query).get("access_token") or [""])[0]
        found = self._describe(token)
        if found is None:
            self._answer(401, {"error": "invalid_token"})
        else:
            self._answer(200, found)
