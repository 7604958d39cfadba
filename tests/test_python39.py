"""The built scripts run on Python 3.9 (the oldest the README promises) and on the newest Python here,
each in a virtualenv holding only the pinned runtime requirements (get-pip's "work as advertised" job).

Runs where those interpreters are installed (pyenv puts them on this project's machines; GitHub and
CircleCI run the matrix); skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, SCRIPTS, clean_env


def _python39() -> str:
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which("python3.9"), *sorted(str(p) for p in pyenv.glob("3.9*/bin/python3.9"))]
    for found in filter(None, candidates):
        probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 9)":
            return found
    pytest.skip("no Python 3.9 interpreter on this machine")


def _newest_python() -> str:
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = []
    for path in pyenv.glob("3.*/bin/python3"):
        probe = subprocess.run([str(path), "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True)
        if probe.returncode == 0:
            found.append((tuple(int(p) for p in probe.stdout.split()), str(path)))
    if not found or max(found)[0] < (3, 12):
        pytest.skip("no Python 3.12 or newer on this machine")
    return max(found)[1]


def _venv_with_requirements(interpreter: str, venv: Path) -> str:
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(SCRIPTS / "requirements.txt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return python


def _runs_every_script(python: str) -> None:
    frozen = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    installed = {line.split("==")[0].lower() for line in frozen.splitlines() if line}
    assert installed == {"requests", "click", "urllib3", "idna", "charset-normalizer", "certifi"}
    for script in sorted(SCRIPTS.glob("[a-z]*.py")):
        done = subprocess.run([python, str(script), "--help"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
        assert "Exit codes: 0 done" in done.stdout
        version = subprocess.run([python, str(script), "--version"], capture_output=True, text=True, check=False)
        assert version.stdout.strip() == f"cirelay-{script.stem}, version 0.1.0", version.stderr


def test_scripts_and_demo_on_python39(tmp_path: Path) -> None:
    python = _venv_with_requirements(_python39(), tmp_path / "py39")
    _runs_every_script(python)
    demo = subprocess.run(
        [python, "-m", "demo"], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=600, check=False
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert demo.stdout.splitlines()[-1] == "demo finished: port, zadig, codearts, octoplant"


def test_scripts_on_the_newest_python(tmp_path: Path) -> None:
    _runs_every_script(_venv_with_requirements(_newest_python(), tmp_path / "newest"))
