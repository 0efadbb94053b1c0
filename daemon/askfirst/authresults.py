"""The Authentication-Results header (RFC 8601 §2.2), read by its grammar, not by regex.

    payload  = [CFWS] authserv-id [CFWS version] (";" "none" / 1*(";" resinfo)) [CFWS]
    resinfo  = method ["/" version] "=" result ["reason" "=" value] *(ptype "." prop "=" pvalue)
    value    = token / quoted-string

Comments `( ... )` nest and may hold `;` and `=` (OpenDKIM writes `dkim=pass (2048-bit key;
unprotected) header.d=...`); they are skipped with the folding white space around tokens.
A header that does not follow the grammar yields no results at all (`error` says why): a
half-read header must never count as a pass. Nonstandard `key=value` pairs without a ptype
(Microsoft's `action=none`) are kept under the ptype `""` and otherwise ignored.

`authres` on PyPI parses the same grammar, but its last release is from 2019, it ships no
type hints, and it silently drops what follows an unterminated comment; this module is
small enough to own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_SPECIALS = frozenset(';="()')


class AuthResultsError(ValueError):
    """The header does not follow RFC 8601's grammar."""


@dataclass(frozen=True)
class Result:
    method: str  # lower case: "dkim", "dmarc", "spf", ...
    result: str  # lower case: "pass", "fail", "none", ...
    reason: str = ""
    props: dict[str, str] = field(default_factory=dict)  # "header.d" -> "linkedin.com"

    def prop(self, name: str) -> str:
        return self.props.get(name, "")


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str  # as written; compare case-insensitively
    version: str = ""
    results: tuple[Result, ...] = ()
    error: str = ""  # why the results could not be read ("" when they could)


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "quoted" or one of ; =
    text: str


def read(header: str) -> AuthResults:
    """One header's payload; the authserv-id is kept even when the results do not parse,
    so that a broken header stamped with our id still counts as ours (and as no pass)."""
    try:
        tokens = _tokens(header)
    except AuthResultsError as exc:
        return AuthResults(_first_word(header), error=str(exc))
    parser = _Parser(tokens)
    try:
        return parser.payload()
    except AuthResultsError as exc:
        return AuthResults(parser.authserv_id, error=str(exc))


def _first_word(header: str) -> str:
    words = header.replace(";", " ").split()
    return words[0] if words and words[0][0] not in _SPECIALS else ""


def _tokens(text: str) -> list[_Token]:
    """Words, quoted strings and the separators `;` `=`; comments and white space dropped."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "(":
            i = _skip_comment(text, i)
        elif char == ")":
            raise AuthResultsError(f"unbalanced ')' at {i}")
        elif char == '"':
            i, value = _quoted(text, i)
            tokens.append(_Token("quoted", value))
        elif char in ";=":
            tokens.append(_Token(char, char))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in _SPECIALS:
                i += 1
            tokens.append(_Token("word", text[start:i]))
    return tokens


def _skip_comment(text: str, i: int) -> int:
    """The index after the comment that opens at `i` (comments nest; `\\` quotes a char)."""
    depth = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        depth += (char == "(") - (char == ")")
        i += 1
        if depth == 0:
            return i
    raise AuthResultsError("unterminated comment")


def _quoted(text: str, i: int) -> tuple[int, str]:
    out: list[str] = []
    i += 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return i + 1, "".join(out)
        else:
            out.append(char)
            i += 1
    raise AuthResultsError("unterminated quoted string")


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.authserv_id = ""

    def payload(self) -> AuthResults:
        self.authserv_id = self._value("authserv-id")
        version = ""
        if self._peek("word") and self._next_text().isdigit():
            version = self._take().text
        results: list[Result] = []
        if self._peek(";") and self._peek_word(1, "none") and self.at + 2 == len(self.tokens):
            return AuthResults(self.authserv_id, version)
        while self.at < len(self.tokens):
            self._expect(";")
            if self.at == len(self.tokens):  # a trailing ";" is common and harmless
                break
            results.append(self._resinfo())
        if not results:
            raise AuthResultsError("no results and no 'none'")
        return AuthResults(self.authserv_id, version, tuple(results))

    def _resinfo(self) -> Result:
        method = self._keyword("method").partition("/")[0]
        self._expect("=")
        result = self._keyword("result")
        reason = ""
        props: dict[str, str] = {}
        while self._peek("word"):
            key = self._take().text.lower()
            self._expect("=")
            value = self._value(key) if not self._peek(";") and self._more() else ""
            if key == "reason" and not reason:
                reason = value
            elif "." in key:
                ptype, _, name = key.partition(".")
                props.setdefault(f"{ptype}.{name}", value)
            else:
                props.setdefault(f".{key}", value)  # nonstandard, kept but not used
        return Result(method, result, reason, props)

    def _keyword(self, what: str) -> str:
        if not self._peek("word"):
            raise AuthResultsError(f"expected {what} at token {self.at}")
        word = self._take().text.lower()
        if not all(c.isalnum() or c in "-_/." for c in word):
            raise AuthResultsError(f"bad {what} {word!r}")
        return word

    def _value(self, what: str) -> str:
        if not (self._peek("word") or self._peek("quoted")):
            raise AuthResultsError(f"expected a value for {what} at token {self.at}")
        return self._take().text

    def _expect(self, kind: str) -> None:
        if not self._peek(kind):
            raise AuthResultsError(f"expected {kind!r} at token {self.at}")
        self.at += 1

    def _more(self) -> bool:
        return self.at < len(self.tokens)

    def _peek(self, kind: str) -> bool:
        return self._more() and self.tokens[self.at].kind == kind

    def _peek_word(self, ahead: int, word: str) -> bool:
        i = self.at + ahead
        return i < len(self.tokens) and self.tokens[i].text.lower() == word

    def _next_text(self) -> str:
        return self.tokens[self.at].text

    def _take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token
