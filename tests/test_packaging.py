"""`pip install .`: the wheel, the commands it puts on PATH, and the scripts as plain files.

The wheel is built from a copy of the project's packaging files in a temporary folder and
installed into a fresh virtualenv, all offline from a wheel folder made once per test run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

from tests.ci_helpers import ROOT, offline_pip_env, wheelhouse
from tests.conftest import clean_env

SCRIPTS = sorted(p.stem for p in (ROOT / "scripts").glob("*.py") if p.name != "__init__.py")
RUNTIME = {"requests", "click", "urllib3", "idna", "charset-normalizer", "certifi"}


def _pyproject() -> Dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _call(args: List[str], env: Dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """The wheel built from the project, and a fresh virtualenv holding only the runtime requirements."""
    wheels = wheelhouse()
    env = clean_env(offline_pip_env(wheels))
    root = tmp_path_factory.mktemp("packaging")
    project = root / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = root / "dist"
    _call([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(project)], env)
    venv = root / "venv"
    _call([sys.executable, "-m", "venv", str(venv)], env)
    python = venv / "bin" / "python"
    _call([str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "scripts" / "requirements.txt")], env)
    (wheel,) = dist.glob("cirelay-*.whl")
    return {"wheel": wheel, "venv": venv, "python": python, "wheels": wheels}


def test_every_script_is_a_command_in_pyproject() -> None:
    scripts = _pyproject()["project"]["scripts"]
    # Plus the emulators' command (issue 16), which is no script of its own (not bundled into scripts/).
    assert scripts == {
        **{f"cirelay-{name}": f"cirelay.{name}.cli:cli" for name in SCRIPTS},
        "cirelay-emulators": "cirelay.emulators.cli:main",
    }
    assert _pyproject()["project"]["optional-dependencies"]["emulators"] == ["jsonschema>=4.18"]


def test_runtime_dependencies_are_requests_and_click_pinned_for_ci() -> None:
    dependencies = {re.split(r"[<>=!~ ;\[]", d)[0].lower() for d in _pyproject()["project"]["dependencies"]}
    assert dependencies == {"requests", "click"}
    # One entry per package, continued over lines by a trailing backslash (its --hash options), comments apart.
    text = (ROOT / "scripts" / "requirements.txt").read_text()
    pins = [" ".join(entry.split()) for entry in re.sub(r"\\\n", " ", re.sub(r"(?m)^\s*#.*\n", "", text)).splitlines()]
    pins = [entry for entry in pins if entry]
    assert {entry.split("==")[0].lower() for entry in pins} >= dependencies
    # The complete runtime set, each an exact version with the sha256 of its files (--require-hashes).
    assert {entry.split("==")[0].lower() for entry in pins} == RUNTIME
    for entry in pins:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*( --hash=sha256:[0-9a-f]{64})+", entry), entry


def test_the_wheel_holds_the_package_under_cirelay_only(built: Dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        console = wheel.read(entry_points).decode()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"cirelay"}
    assert {f"cirelay/{name}/cli.py" for name in SCRIPTS} <= set(names)
    assert not any(name.startswith("scripts/") for name in names)  # the built single files are not installed
    for name in SCRIPTS:
        assert f"cirelay-{name} = cirelay.{name}.cli:cli" in console
    requires = {
        re.split(r"[<>=!~ ;]", line.split(":", 1)[1].strip())[0].lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    assert requires == {"requests", "click"}
    # The emulators, their command and the contracts they read (with their provenance) are in the wheel.
    assert "cirelay-emulators = cirelay.emulators.cli:main" in console
    for data in ("port-openapi.json", "octoplant-export.json", "README.md"):
        assert f"cirelay/emulators/contracts/{data}" in names
    assert "Provides-Extra: emulators" in metadata
    assert re.search(r"Requires-Dist: jsonschema>=4\.18; extra == .emulators.", metadata), metadata


def test_the_scripts_run_with_only_requests_and_click(built: Dict[str, Path]) -> None:
    env = clean_env()
    frozen = _call([str(built["python"]), "-m", "pip", "freeze"], env).stdout
    installed = {re.split(r"==| @ ", line)[0].lower() for line in frozen.splitlines() if line}
    assert installed - {"cirelay"} == RUNTIME  # cirelay itself only once the next test installs it
    for name in SCRIPTS:
        done = _call([str(built["python"]), str(ROOT / "scripts" / f"{name}.py"), "--help"], env)
        assert "Exit codes: 0 done" in done.stdout, name


def test_pip_install_puts_the_commands_on_path_without_a_port_module(built: Dict[str, Path]) -> None:
    env = clean_env(offline_pip_env(built["wheels"]))
    python = str(built["python"])
    _call([python, "-m", "pip", "install", "-q", str(built["wheel"])], env)
    for name in SCRIPTS:
        done = _call([str(built["venv"] / "bin" / f"cirelay-{name}"), "--version"], env)
        assert done.stdout.strip() == f"cirelay-{name}, version 0.1.0", done.stdout
    probe = "import importlib.util as u, sys; sys.exit(any(u.find_spec(n) for n in sys.argv[1:]))"
    done = subprocess.run([python, "-I", "-c", probe, *SCRIPTS], env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, "a script is importable as a top-level module"


def test_the_installed_emulators_serve_from_anywhere_with_only_the_runtime_deps(
    built: Dict[str, Path], tmp_path: Path
) -> None:
    """cirelay-emulators from the wheel, in a folder that is not the project, without jsonschema."""
    env = clean_env(offline_pip_env(built["wheels"]))
    python = str(built["python"])
    _call([python, "-m", "pip", "install", "-q", str(built["wheel"])], env)
    assert subprocess.run([python, "-c", "import jsonschema"], env=env, capture_output=True, check=False).returncode
    bin_dir = built["venv"] / "bin"
    shown = json.loads(_call([str(bin_dir / "cirelay-emulators"), "fixtures"], env, cwd=tmp_path).stdout)
    assert sorted(shown) == ["codearts", "octoplant", "port", "zadig"]
    script = (
        'eval "$(cirelay-emulators serve --detach --platform port --env-file emulators.env)"\n'
        "trap 'kill \"$CIRELAY_EMULATORS_PID\"' EXIT\n"
        "cirelay-port entity get --blueprint microservice --identifier payments\n"
    )
    path_env = dict(env, PATH=f"{bin_dir}:{env.get('PATH', '')}")
    done = _call(["bash", "-c", "set -euo pipefail\n" + script], path_env, cwd=tmp_path)
    assert json.loads(done.stdout)["identifier"] == "payments"
    assert (tmp_path / "emulators.env").read_text().startswith("export PORT_BASE_URL=")


def test_the_clients_import_as_a_library_without_click(built: Dict[str, Path]) -> None:
    env = clean_env(offline_pip_env(built["wheels"]))
    python = str(built["python"])
    _call([python, "-m", "pip", "install", "-q", str(built["wheel"])], env)
    probe = (
        "import sys\n"
        "from cirelay.port import PortClient\n"
        "from cirelay.zadig import ZadigClient\n"
        "from cirelay.codearts import CodeArtsClient\n"
        "from cirelay.octoplant import OctoplantClient\n"
        "from cirelay.errors import CirelayError\n"
        "print(sorted(m for m in ('click', 'concurrent.futures') if m in sys.modules))\n"
    )
    done = _call([python, "-I", "-c", probe], env)
    assert done.stdout.strip() == "[]"
