"""Helpers shared by the packaging tests (action, orb, wheel): offline wheels and the fakes."""

from __future__ import annotations

import atexit
import functools
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Optional

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
    """The emulator module of a platform, or skip when its script has not landed yet."""
    if not (ROOT / "scripts" / f"{name}.py").exists():
        pytest.skip(f"scripts/{name}.py does not exist yet")
    return importlib.import_module(f"cirelay.emulators.{name}")


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


@functools.cache
def runner_python() -> str:
    """A Python like a fresh CI runner's: pip of its own, no requests or click (made once per test run).

    The action and the orb use an interpreter as it is when it has requests and click, as this
    test process's Python does; this one makes them take the install path, with the base
    interpreter's pip (`pip --python`), as on a runner with actions/setup-python or cimg/python.
    """
    folder = Path(tempfile.mkdtemp(prefix="cirelay-runner-python-"))
    atexit.register(shutil.rmtree, folder, True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(folder / "venv")], check=True, capture_output=True, timeout=180)
    python = folder / "venv" / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import requests"], capture_output=True, timeout=60, check=False, env=clean_pip_env()
    )
    assert probe.returncode != 0, "the runner-like Python imports requests"
    return str(python)


def clean_pip_env() -> Dict[str, str]:
    """This process's environment without PYTHONPATH, so a child Python sees only its own packages."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


# --- the composite action's steps, run as GitHub's runner runs them -----------------------------

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_CONTEXT = re.compile(r"\b(inputs|steps|github|runner|env)((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)")


def _evaluate(expression: str, contexts: Dict[str, Any]) -> Any:
    """The little of GitHub's expression language action.yml uses: context lookups, string
    literals, ==, !=, && and || (which, as on GitHub, give one of their operands)."""

    def lookup(match: re.Match[str]) -> str:
        value: Any = contexts[match.group(1)]
        for name in match.group(2).split(".")[1:]:
            value = value.get(name, "") if isinstance(value, dict) else ""
        return repr(value)

    python = _CONTEXT.sub(lookup, expression).replace("&&", " and ").replace("||", " or ")
    assert not re.search(r"[A-Za-z_]\w*\s*\(", python), f"function calls are not handled: {expression}"
    return eval(python, {"__builtins__": {}}, {})  # action.yml's own expressions, checked above


def _render(value: str, contexts: Dict[str, Any]) -> str:
    return _EXPRESSION.sub(lambda m: str(_evaluate(m.group(1), contexts)), value)


def _read_outputs(path: Path) -> Dict[str, str]:
    """A GITHUB_OUTPUT file: NAME=VALUE lines and the NAME<<DELIMITER multi-line form."""
    values: Dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        if "<<" in lines[i] and "=" not in lines[i].split("<<", 1)[0]:
            name, delimiter = lines[i].split("<<", 1)
            end = lines.index(delimiter, i + 1)
            values[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, _, value = lines[i].partition("=")
            values[name] = value
            i += 1
    return values


def run_action_steps(
    action: Dict[str, Any],
    inputs: Dict[str, str],
    env: Dict[str, str],
    runner_temp: Path,
    *,
    uses: Optional[Dict[str, Any]] = None,
    ref_type: str = "branch",
) -> Dict[str, Any]:
    """Run a composite action's steps as the runner does: each `if:` evaluated, each `run:` by
    `bash --noprofile --norc -eo pipefail FILE` with the step's env rendered, GITHUB_OUTPUT read
    back into steps.<id>.outputs. A `uses:` step runs `uses[action](with)` (a function returning
    its outputs) or, when uses has no entry for it, fails the test. Returns the steps context, each
    step's CompletedProcess under "_done" (its id), its wall time under "_seconds" and the order
    they ran in under "_ran"."""
    defaults = {name: str(spec.get("default", "")) for name, spec in action.get("inputs", {}).items()}
    contexts: Dict[str, Any] = {
        "inputs": {**defaults, **inputs},
        "steps": {},
        "github": {"ref_type": ref_type},
        "runner": {"os": "Linux", "arch": "X64", "temp": str(runner_temp)},
        "env": env,
    }
    done: Dict[str, subprocess.CompletedProcess] = {}
    times: Dict[str, float] = {}
    ran = []
    for number, step in enumerate(action["runs"]["steps"]):
        step_id = step.get("id", f"__{number}")
        condition = step.get("if")
        if condition is not None and not _evaluate(_EXPRESSION.sub(r"\1", str(condition)), contexts):
            contexts["steps"][step_id] = {"outputs": {}, "outcome": "skipped"}
            continue
        ran.append(step_id)
        if "uses" in step:
            name = step["uses"].split("@")[0]
            assert uses and name in uses, f"step {step_id} uses {name}, which this runner was not given"
            given = {k: _render(str(v), contexts) for k, v in (step.get("with") or {}).items()}
            contexts["steps"][step_id] = {"outputs": dict(uses[name](given)), "outcome": "success"}
            continue
        script = runner_temp / f"step-{number}.sh"
        script.write_text(step["run"], encoding="utf-8")
        output = runner_temp / f"output-{number}"
        step_env = {**env, "RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(output)}
        step_env.update({k: _render(str(v), contexts) for k, v in (step.get("env") or {}).items()})
        started = time.perf_counter()
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env=step_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        done[step_id] = result
        times[step_id] = time.perf_counter() - started
        outcome = "success" if result.returncode == 0 else "failure"
        contexts["steps"][step_id] = {"outputs": _read_outputs(output), "outcome": outcome}
        if result.returncode != 0:
            break
    return {**contexts["steps"], "_done": done, "_ran": ran, "_seconds": times}
