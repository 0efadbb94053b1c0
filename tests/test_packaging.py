"""The wheel as a user gets it: built from this tree, installed into a fresh venv, run from
a folder that is not the checkout. Catches what an editable install hides (templates left
out of the wheel, an import that only works from the source tree, the `daemon` import
name that python-daemon also claims)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from askfirst.testing.dovecot import find_dovecot

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(600)


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASKFIRST_", "PYTHON"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel built from this tree (with the demo extra) beside
    python-daemon, whose import name `daemon` askfirst must not take."""
    root = tmp_path_factory.mktemp("wheel")
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", REPO,
        cwd=root,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("askfirst-*.whl")
    venv.EnvBuilder(with_pip=True).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    done = _run(python, "-m", "pip", "install", "-q", f"{wheel}[demo]", "python-daemon", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "venv" / "bin"


def test_the_installed_command_renders_the_builtin_templates(
    installed: Path, tmp_path: Path
) -> None:
    result = _run(installed / "askfirst", "preview", "ask", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Subject: ")
    assert "tell me about yourself" in result.stdout.lower()


def test_the_version_comes_from_the_package_metadata(installed: Path, tmp_path: Path) -> None:
    result = _run(installed / "askfirst", "--version", cwd=tmp_path)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

    assert result.stdout.strip() == f"askfirst {version}"


def test_python_daemon_keeps_its_import_name(installed: Path, tmp_path: Path) -> None:
    probe = "import askfirst.cli, daemon, daemon.pidfile; print(daemon.DaemonContext.__name__)"
    result = _run(installed / "python", "-c", probe, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "DaemonContext"


def test_the_wheel_ships_no_tests_and_no_checkout_paths(installed: Path) -> None:
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    shipped = {p.relative_to(site).parts[0] for p in site.iterdir()}

    assert "askfirst" in shipped
    assert "tests" not in shipped and "templates" not in shipped
    assert not (site / "askfirst" / "templates").is_symlink()  # a copy, not a link home


@pytest.mark.skipif(find_dovecot() is None, reason="the demo needs Dovecot")
def test_the_demo_runs_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    env_path = f"{installed}:{os.environ.get('PATH', '')}:/usr/sbin"
    result = subprocess.run(
        [installed / "askfirst", "demo", "--decline-after", "5s"],
        cwd=tmp_path,
        env={**os.environ, "PATH": env_path},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "summary: alice answered" in result.stdout
