"""Shared test helpers: load a script as a module, run one as a subprocess like CI does."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, Optional

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def cli_runner() -> CliRunner:
    """A CliRunner with stdout and stderr apart, on click 8.1 (mix_stderr) and 8.2+ (always apart).

    The scripts pin click 8.1.8 (the last release for Python 3.9); newer clicks work too.
    """
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def load_script(name: str) -> ModuleType:
    """Import scripts/<name>.py from its file, the same file a user would copy."""
    spec = importlib.util.spec_from_file_location(f"cirelay_test_{name}", SCRIPTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def github_outputs(path: Path) -> Dict[str, str]:
    """The values a script wrote to a GITHUB_OUTPUT file, in the multi-line delimiter form emit() uses."""
    values: Dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        name, _, delimiter = lines[i].partition("<<")
        assert delimiter.startswith("ghadelimiter_"), lines[i]
        end = lines.index(delimiter, i + 1)
        values[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return values


def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment a CI step would have: no CI variables of this machine, only what a test sets."""
    drop = ("GITHUB_", "CIRCLE", "PORT_", "ZADIG_", "CODEARTS_", "HUAWEICLOUD_", "OCTOPLANT_", "CIRELAY_", "RUNNER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and k not in ("CI", "REQUESTS_CA_BUNDLE")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_script(
    name: str,
    *args: str,
    env: Optional[Dict[str, str]] = None,
    input: Optional[str] = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run `python scripts/<name>.py ARGS` as a CI step would and capture what it prints."""
    return subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), *args],
        env=clean_env(env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(autouse=True)
def _private_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Temp files of the test and of the scripts it runs (Port's token cache) stay in pytest's tmp."""
    tmp = tmp_path_factory.mktemp("tmp")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)  # recomputed from TMPDIR on next use


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record the waits a script asks for instead of sleeping (for unit tests of retries and waiters)."""
    slept: list = []
    monkeypatch.setattr("time.sleep", slept.append)
    return slept
