"""Text out of an HTML mail part: what a reader would see, one paragraph per line.

Lenient on broken markup (mail is hostile input): never raises, drops styles and scripts.
"""

from __future__ import annotations

from collections.abc import Iterable
from html.parser import HTMLParser


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"style", "script", "head", "title"})
    _BREAK = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BREAK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but a broken document must not stop us
        return ""
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).splitlines())
    return "\n".join(_squeeze(lines))


def _squeeze(lines: Iterable[str]) -> Iterable[str]:
    blank = False
    for line in lines:
        if line or not blank:
            yield line
        blank = not line
