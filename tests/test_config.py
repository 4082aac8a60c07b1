"""The one configuration object: the environment, then the command line; nothing else reads the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from common.config import Config
from common.datadir import DataDir
from common.errors import LogosimError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "crawler", "indexer", "search", "pipeline", "fixtureweb")
# Scrapy's settings module reads the same variables for `scrapy crawl`, through Config.
ALLOWED = {ROOT / "common" / "config.py"}


def test_environment_then_options() -> None:
    env = {"LOGOSIM_DATA_DIR": "/tmp/from-env", "QDRANT_URL": "http://q:6333", "LOGOSIM_OFFLINE": "1",
           "LOGOSIM_INDEX_WORKERS": "3", "LOGOSIM_EMBEDDED": "local"}
    config = Config.from_env(env)
    assert config.data_dir == Path("/tmp/from-env") and config.qdrant_url == "http://q:6333"
    assert config.offline is True and config.index_workers == 3 and config.embedded == "local"
    overridden = Config.from_env(env, data_dir=Path("cli-dir"), qdrant_url=None, index_workers=0)
    assert overridden.data_dir == Path("cli-dir")  # the option wins
    assert overridden.qdrant_url == "http://q:6333"  # an option left unset keeps the variable
    assert overridden.index_workers == 0
    assert Config.from_env({}) == Config()


def test_bad_variable_is_one_line() -> None:
    with pytest.raises(LogosimError, match="LOGOSIM_INDEX_WORKERS") as info:
        Config.from_env({"LOGOSIM_INDEX_WORKERS": "many"})
    assert "\n" not in str(info.value)


def test_data_dir_ignores_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LOGOSIM_DATA_DIR", str(tmp_path))
    assert DataDir.at(None).root == Path("data")


def _reads_environment(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "unsetenv"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and \
                any(alias.name in ("environ", "getenv") for alias in node.names):
            lines.append(node.lineno)
    return lines


def test_only_the_configuration_module_reads_the_environment() -> None:
    offenders = {str(path.relative_to(ROOT)): lines
                 for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
                 if path not in ALLOWED and (lines := _reads_environment(path))}
    cli = _reads_environment(ROOT / "cli.py")
    if cli:
        offenders["cli.py"] = cli
    assert offenders == {}


def test_reading_words_is_on_unless_turned_off() -> None:
    from common.config import Config

    assert Config.from_env({}).read_text is True
    assert Config.from_env({"LOGOSIM_READ_TEXT": "0"}).read_text is False
    assert Config.from_env({"LOGOSIM_READ_TEXT": "off"}, read_text=None).read_text is False
    assert Config.from_env({"LOGOSIM_READ_TEXT": "1"}).read_text is True
