"""The scripts run on Python 3.9, the oldest the README promises, with the pinned requirements.

Runs where a python3.9 is installed (pyenv puts one on this project's machines; GitHub and
CircleCI run the 3.9 job of their matrix); skipped elsewhere.
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


def test_scripts_and_demo_on_python39(tmp_path: Path) -> None:
    venv = tmp_path / "py39"
    subprocess.run([_python39(), "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(SCRIPTS / "requirements.txt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    for script in sorted(SCRIPTS.glob("[a-z]*.py")):
        done = subprocess.run([python, str(script), "--help"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
        assert "Exit codes: 0 done" in done.stdout
    demo = subprocess.run(
        [python, "-m", "demo"], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=600, check=False
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert demo.stdout.splitlines()[-1] == "demo finished: port, zadig, codearts, octoplant"
