"""Configuration: the example file, durations, env/secret overrides, and errors that name keys."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from askfirst.config import ConfigError, Settings
from askfirst.config_loading import load_settings
from askfirst.durations import parse_duration

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ASKFIRST_* variable of the caller's shell, and no real /run/secrets, leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("ASKFIRST_"):
            monkeypatch.delenv(name)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    monkeypatch.setenv("ASKFIRST_SECRETS_DIR", str(secrets))
    return secrets


def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def edited(old: str, new: str, text: str | None = None) -> str:
    """The example with one exact fragment replaced (the fragment must be there)."""
    text = example_text() if text is None else text
    assert old in text, f"{old!r} is not in config.example.toml"
    return text.replace(old, new, 1)


def edited_line(pattern: str, new: str, text: str | None = None) -> str:
    """The example with the first whole line matching `pattern` replaced by `new`."""
    text = example_text() if text is None else text
    result, count = re.subn(rf"^{pattern}.*$", new, text, count=1, flags=re.M)
    assert count == 1, f"no line matches {pattern!r}"
    return result


def write(folder: Path, text: str, name: str = "config.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems, "a ConfigError must carry at least one problem"
    return caught.value.problems


# -- the example file ----------------------------------------------------------------------


def test_example_config_loads_with_the_documented_values() -> None:
    settings = load_settings(EXAMPLE)

    assert settings.owner.email == "pat@example.org"
    assert settings.owner.addresses() == frozenset({"pat@example.org"})
    assert settings.imap.host == "imap.example.org"
    assert settings.imap.effective_port == 993
    assert settings.imap.password.get_secret_value() == "change-me"
    assert "change-me" not in repr(settings.imap.password)  # masked in logs
    assert settings.smtp.tls == "starttls"
    assert settings.smtp.effective_port == 587
    assert settings.lifecycle.decline_after == timedelta(days=7)
    assert settings.lifecycle.poll_interval == timedelta(minutes=5)
    assert settings.lifecycle.ask_again_after == timedelta(days=60)
    assert settings.imap.timeout == timedelta(seconds=60)
    assert settings.state.path == EXAMPLE.parent.resolve() / "askfirst.sqlite3"
    assert settings.templates.dir == EXAMPLE.parent.resolve() / "templates"


def documented_keys(text: str) -> dict[str, set[str]]:
    """`key = ...` and commented-out `# key = ...` lines, by `[section]`."""
    sections: dict[str, set[str]] = {"": set()}  # "": top-level keys before any table
    current: str | None = ""
    for line in text.splitlines():
        header = re.fullmatch(r"\s*\[([\w.]+)\]\s*(#.*)?", line)
        if header:
            current = header.group(1)
            sections.setdefault(current, set())
            continue
        key = re.match(r"\s*#?\s*([A-Za-z_]\w*)\s*=", line)
        if key and current is not None:
            sections[current].add(key.group(1))
    return sections


def section_models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for name, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            models[name] = model
    return models


def top_level_keys() -> set[str]:
    return set(Settings.model_fields) - set(section_models())


def test_top_level_settings_are_documented_and_nothing_else() -> None:
    assert documented_keys(example_text())[""] == top_level_keys()


def test_every_setting_appears_in_the_example_under_its_section() -> None:
    documented = documented_keys(example_text())
    missing = [
        f"{section}.{field}"
        for section, model in section_models().items()
        for field in model.model_fields
        if field not in documented.get(section, set())
    ]
    assert missing == [], f"not documented in config.example.toml: {', '.join(missing)}"
    assert {"owner", "imap", "smtp", "lifecycle", "state", "templates"} <= set(section_models())


def test_the_example_documents_no_setting_that_does_not_exist() -> None:
    models = section_models()
    stale = [
        f"{section}.{key}"
        for section, keys in documented_keys(example_text()).items()
        for key in keys
        if section and (section not in models or key not in models[section].model_fields)
    ]
    assert stale == [], f"config.example.toml documents unknown keys: {', '.join(stale)}"


def test_documented_keys_sees_commented_out_keys_in_the_right_section() -> None:
    keys = documented_keys("[a]\nx = 1\n# y = 2\n[b]\n  #z=3\n# prose, not a key\n")
    assert keys == {"": set(), "a": {"x", "y"}, "b": {"z"}}


# -- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("1d 6h", timedelta(days=1, hours=6)),
        (" 7D ", timedelta(days=7)),
        ("45", timedelta(seconds=45)),
        (45, timedelta(seconds=45)),
        (timedelta(hours=3), timedelta(hours=3)),
    ],
)
def test_durations_are_read(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "garbage", ["", "   ", "abc", "7x", "7 days", "7d junk", "d7", "1.5h", "-5", True, None, [7]]
)
def test_garbage_durations_are_rejected(garbage: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(garbage)


def test_a_duration_from_the_file_accepts_bare_seconds(tmp_path: Path) -> None:
    path = write(tmp_path, edited('decline_after = "7d"', "decline_after = 3600"))
    assert load_settings(path).lifecycle.decline_after == timedelta(hours=1)


def test_a_bad_duration_in_the_file_names_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, edited('decline_after = "7d"', 'decline_after = "a week"'))
    (problem,) = problems(path)
    assert problem.startswith("lifecycle.decline_after:")
    assert "ASKFIRST_LIFECYCLE__DECLINE_AFTER" in problem


# -- environment and secret files ----------------------------------------------------------


def test_env_override_deep_merges_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKFIRST_IMAP__PORT", "1143")
    settings = load_settings(write(tmp_path, example_text()))

    assert settings.imap.port == 1143
    assert settings.imap.effective_port == 1143
    # the rest of [imap] still comes from the file
    assert settings.imap.host == "imap.example.org"
    assert settings.imap.username == "pat@example.org"
    assert settings.imap.password.get_secret_value() == "change-me"
    assert settings.smtp.port == 587


def test_env_override_can_supply_a_key_missing_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKFIRST_SMTP__PASSWORD", "from-env")
    text = edited('password = "change-me"\n# password_file = ""', '# password_file = ""')
    settings = load_settings(write(tmp_path, text))
    assert settings.smtp.password.get_secret_value() == "from-env"


def test_a_bad_env_value_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKFIRST_IMAP__PORT", "not-a-port")
    (problem,) = problems(write(tmp_path, example_text()))
    assert problem.startswith("imap.port:")


def test_secret_file_overrides_the_file(tmp_path: Path, isolated_env: Path) -> None:
    (isolated_env / "askfirst_imap__password").write_text("from-secret-file\n")
    settings = load_settings(write(tmp_path, example_text()))

    assert settings.imap.password.get_secret_value() == "from-secret-file"
    assert settings.imap.host == "imap.example.org"
    assert settings.smtp.password.get_secret_value() == "change-me"


def test_env_beats_secret_file(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_env / "askfirst_imap__password").write_text("from-secret-file")
    monkeypatch.setenv("ASKFIRST_IMAP__PASSWORD", "from-env")
    settings = load_settings(write(tmp_path, example_text()))
    assert settings.imap.password.get_secret_value() == "from-env"


def test_a_missing_secrets_dir_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKFIRST_SECRETS_DIR", str(tmp_path / "does-not-exist"))
    assert load_settings(write(tmp_path, example_text())).imap.host == "imap.example.org"


# -- errors name their key -----------------------------------------------------------------


def test_an_unknown_key_is_an_error_that_starts_with_the_dotted_key(tmp_path: Path) -> None:
    text = edited('host = "imap.example.org"', 'host = "imap.example.org"\nhots = "typo"')
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert str(caught.value).startswith("imap.hots:")
    assert caught.value.problems == [str(caught.value)]


def test_a_misspelt_key_reports_the_typo_and_the_missing_key(tmp_path: Path) -> None:
    text = edited('host = "imap.example.org"', 'hots = "imap.example.org"')
    found = problems(write(tmp_path, text))
    assert any(p.startswith("imap.hots:") for p in found)
    assert any(p.startswith("imap.host:") for p in found)


def test_an_unknown_section_is_an_error(tmp_path: Path) -> None:
    found = problems(write(tmp_path, example_text() + '\n[imapp]\nhost = "x"\n'))
    assert [p.split(":")[0] for p in found] == ["imapp"]


@pytest.mark.parametrize("port", ["0", "99999", "-1", '"abc"'])
def test_a_bad_port_names_imap_port(tmp_path: Path, port: str) -> None:
    (problem,) = problems(write(tmp_path, edited("port = 993", f"port = {port}")))
    assert "imap.port:" in problem
    assert problem.startswith("imap.port:")


def test_a_bad_owner_address_names_owner_email(tmp_path: Path) -> None:
    text = edited('email = "pat@example.org"', 'email = "not an address"')
    (problem,) = problems(write(tmp_path, text))
    assert problem.startswith("owner.email:")


def test_owner_addresses_are_lower_cased(tmp_path: Path) -> None:
    text = edited('email = "pat@example.org"', 'email = "Pat@Example.ORG"')
    text = edited("aliases = []", 'aliases = ["P.Owner@Example.org"]', text)
    settings = load_settings(write(tmp_path, text))
    assert settings.owner.addresses() == frozenset({"pat@example.org", "p.owner@example.org"})


def test_a_bad_tls_mode_names_its_key(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, edited_line('tls = "ssl"', 'tls = "tls"')))
    assert problem.startswith("imap.tls:")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path / "nope.toml")
    assert "no such file" in problem


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path)
    assert "no such file" in problem


def test_malformed_toml_is_a_config_error(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, "[imap\nhost = ="))
    assert "not valid TOML" in problem


def test_a_missing_required_section_names_it(tmp_path: Path) -> None:
    text = edited('[owner]\nname = "Pat Owner"', '[unused_owner]\nname = "Pat Owner"')
    found = problems(write(tmp_path, text))
    assert any(p.startswith("owner:") for p in found)


# -- defaults and paths --------------------------------------------------------------------


@pytest.mark.parametrize(("tls", "port"), [("ssl", 993), ("starttls", 143), ("none", 143)])
def test_imap_port_defaults_follow_tls(tmp_path: Path, tls: str, port: int) -> None:
    text = edited_line(r"port = 993\b", "")
    text = edited_line('host = "imap.example.org"', 'host = "localhost"', text)  # no TLS: loopback
    text = edited_line('tls = "ssl"', f'tls = "{tls}"', text)
    settings = load_settings(write(tmp_path, text))
    assert settings.imap.port is None
    assert settings.imap.effective_port == port


def test_relative_paths_are_taken_from_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = edited('path = "askfirst.sqlite3"', 'path = "data/state.sqlite3"')
    text = edited_line(r'# ca_file = "ca.pem"', 'ca_file = "certs/ca.pem"', text)
    path = write(tmp_path / "etc", text)

    settings = load_settings(Path("..") / "etc" / "config.toml")

    base = (tmp_path / "etc").resolve()
    assert settings.state.path == base / "data" / "state.sqlite3"
    assert settings.templates.dir == base / "templates"
    assert settings.imap.ca_file == base / "certs" / "ca.pem"
    assert settings.smtp.ca_file is None
    assert path.exists()


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "var" / "state.sqlite3"
    text = edited('path = "askfirst.sqlite3"', f'path = "{target.as_posix()}"')
    settings = load_settings(write(tmp_path / "etc", text))
    assert settings.state.path == target
