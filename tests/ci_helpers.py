"""Helpers shared by the packaging tests (action, orb, wheel): offline wheels and the fakes."""

from __future__ import annotations

import atexit
import functools
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Dict, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ("port", "zadig", "codearts", "octoplant")


@functools.cache
def _wheelhouse() -> Optional[Path]:
    """scripts/requirements.txt as wheels in a folder, downloaded once per test run (pip's cache)."""
    folder = Path(tempfile.mkdtemp(prefix="cirelay-wheels-"))
    atexit.register(shutil.rmtree, folder, True)
    requirements = str(ROOT / "scripts" / "requirements.txt")
    # Two downloads: the requirements carry hashes, and pip then demands a hash for everything on
    # its command line, so what building the project's wheel needs (setuptools, wheel) goes apart.
    for wanted in (["-r", requirements, "--no-deps", "--only-binary=:all:"], ["setuptools>=64", "wheel"]):
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", *wanted, "-d", str(folder)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            return None
    return folder


def wheelhouse() -> Path:
    """The wheel folder, or skip the test when pip cannot get the wheels here."""
    folder = _wheelhouse()
    if folder is None:
        pytest.skip("pip could not download scripts/requirements.txt (offline, no cache)")
    return folder


def offline_pip_env(folder: Path) -> Dict[str, str]:
    """Environment that makes pip install only from the wheel folder: no index, no network."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(folder), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def need_platform(name: str) -> ModuleType:
    """The fake module of a platform, or skip when its script or fake has not landed yet."""
    if not (ROOT / "scripts" / f"{name}.py").exists():
        pytest.skip(f"scripts/{name}.py does not exist yet")
    try:
        return importlib.import_module(f"tests.fakes.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tests.fakes.{name}":
            raise
        pytest.skip(f"tests/fakes/{name}.py does not exist yet")


def tool(name: str) -> str:
    """Path of a command-line tool from the test extra (next to this Python), or skip."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def path_with_python() -> str:
    """PATH with this interpreter's folder first, so python3 in a CI step is this Python."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
