"""The house rules a newcomer relies on: small modules, no import circles, and the real
edges fitting the interfaces the pass depends on."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from askfirst.edges import Mailbox, Sender
from askfirst.mailbox import ImapMailbox
from askfirst.smtp import SmtpSender

PACKAGE = Path(__file__).resolve().parent.parent / "daemon" / "askfirst"
MAX_LINES = 300
MODULES = sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The askfirst modules `path` imports, at any level (TYPE_CHECKING blocks included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {n for n in names if n in modules} or {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {n for n in found if n in modules}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_is_at_most_300_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines"


def test_no_module_imports_itself_through_others() -> None:
    modules = {_name(p) for p in MODULES}
    graph = {_name(p): _imports(p, modules) - {_name(p)} for p in MODULES}
    circles = []
    for start in graph:  # a depth-first walk from each module, looking for a way back
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        seen: set[str] = set()
        while stack:
            here, path = stack.pop()
            for nxt in graph[here]:
                if nxt == start:
                    circles.append(" -> ".join((*path, start)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
    assert circles == []


@pytest.mark.parametrize(("protocol", "real"), [(Mailbox, ImapMailbox), (Sender, SmtpSender)])
def test_the_real_edges_offer_what_the_pass_calls(protocol: type, real: type) -> None:
    """mypy checks the signatures where App is built; this checks that nothing the
    protocol names is missing or differs in being awaited."""
    members = [n for n in vars(protocol) if not n.startswith("_")]
    assert members
    for name in members:
        assert hasattr(real, name), f"{real.__name__} has no {name}"
        wanted = inspect.iscoroutinefunction(getattr(protocol, name))
        assert inspect.iscoroutinefunction(getattr(real, name)) == wanted, name
