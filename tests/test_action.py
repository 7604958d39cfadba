"""The GitHub composite action (action.yml) and the project's workflows: lint, then run them.

The execution test runs .github/workflows/action-test.yml under nektos/act on this machine
(`-P ubuntu-latest=-self-hosted`: no Docker) against the Port fake started here. act skips
actions/checkout when the workflow checks out the repository under test (it copies the working
tree instead), so no action is fetched and `--action-offline-mode` keeps it from trying.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest
import yaml

from tests.ci_helpers import (
    ROOT,
    need_platform,
    offline_pip_env,
    path_with_python,
    run_action_steps,
    runner_python,
    tool,
    wheelhouse,
)
from tests.conftest import clean_env

ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# Outputs the issue names; the scripts may add more (tested below against their source).
REQUIRED_OUTPUTS = {
    "result",
    "identifier",
    "identifiers",
    "entity",
    "entities",
    "run-id",
    "task-id",
    "status",
    "url",
    "path",
    "sha256",
    "order",
}
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _steps_of(document: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    if "runs" in document:
        yield from document["runs"].get("steps", [])
    for job in (document.get("jobs") or {}).values():
        yield from job.get("steps", [])


def _run(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


# --- static checks -----------------------------------------------------------------------------


def test_action_validates_against_the_schema() -> None:
    done = _run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION))
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_validate_against_the_schema() -> None:
    assert WORKFLOWS, "no workflows in .github/workflows"
    done = _run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_passes_on_the_action_and_workflows() -> None:
    done = _run(tool("jactionlint"), "--no-online", "--no-color", str(ACTION), *map(str, WORKFLOWS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_reports_nothing() -> None:
    done = _run(tool("zizmor"), "--offline", "--no-progress", ".")
    assert done.returncode == 0, done.stdout + done.stderr  # zizmor exits non-zero on any finding


def test_yamllint_passes() -> None:
    done = _run(tool("yamllint"), "--strict", str(ACTION), ".github", ".yamllint")
    assert done.returncode == 0, done.stdout + done.stderr


def test_inputs_are_the_documented_four() -> None:
    action = _yaml(ACTION)
    assert set(action["inputs"]) == {"command", "args", "python", "cache"}  # issue 13 added cache
    assert action["inputs"]["command"]["required"] is True
    assert action["inputs"]["cache"]["default"] == "true"
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        assert not re.search(r"token|secret|password|client.id", name), f"credential input {name}"


def test_every_output_is_declared_described_and_mapped_from_the_run_step() -> None:
    outputs = _yaml(ACTION)["outputs"]
    assert set(outputs) >= REQUIRED_OUTPUTS, REQUIRED_OUTPUTS - set(outputs)
    for name, spec in outputs.items():
        assert spec.get("description"), name
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}", name


def _script_output_names(path: Path) -> Set[str]:
    """Keys of the outputs= dicts a script hands to emit(), and of its *outputs() helpers' dicts."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: Set[str] = set()

    def keys(node: ast.AST) -> None:
        if isinstance(node, ast.Dict):
            found.update(k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "outputs":
                    keys(keyword.value)
        if isinstance(node, ast.FunctionDef) and node.name.endswith("outputs"):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    keys(inner.value)
    return found


def test_every_output_a_script_writes_is_declared() -> None:
    declared = set(_yaml(ACTION)["outputs"])
    for path in sorted((ROOT / "scripts").glob("*.py")):
        if path.name == "__init__.py":
            continue
        missing = _script_output_names(path) - declared
        assert not missing, f"{path.name} writes outputs action.yml does not declare: {sorted(missing)}"


def test_no_expression_inside_any_run_script() -> None:
    for path in [ACTION, *WORKFLOWS]:
        for step in _steps_of(_yaml(path)):
            assert "${{" not in step.get("run", ""), f"{path.name}: step {step.get('name')!r} expands in run:"


def test_credentials_never_pass_through_inputs() -> None:
    text = ACTION.read_text(encoding="utf-8")
    for name in ("PORT_CLIENT_SECRET", "ZADIG_TOKEN", "CODEARTS_TOKEN", "OCTOPLANT_PASSWORD", "HUAWEICLOUD_SDK_SK"):
        assert name not in _yaml(ACTION)["inputs"]
    assert "secrets." not in text


def test_third_party_actions_are_pinned_by_sha_with_a_version_comment() -> None:
    for path in [ACTION, *WORKFLOWS]:
        lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            found = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if not found or found.group(1).startswith("./"):
                continue
            assert SHA_PIN.match(found.group(1)), f"{path.name}: {line.strip()} is not pinned by commit SHA"
            assert re.search(r"#\s*v\d", found.group(2)), f"{path.name}: {line.strip()} has no version comment"


def _step(step_id: str) -> Dict[str, Any]:
    (step,) = [s for s in _yaml(ACTION)["runs"]["steps"] if s["id"] == step_id]
    return step


def test_the_action_steps_are_bash_with_values_through_env() -> None:
    steps = _yaml(ACTION)["runs"]["steps"]
    assert _yaml(ACTION)["runs"]["using"] == "composite"
    # issue 13: find, restore from the cache, install, save to the cache, then run
    assert [s["id"] for s in steps] == ["setup", "restore", "install", "save", "run"]
    for step in steps:
        assert step.get("shell") == "bash" or step["uses"].startswith(("actions/cache/restore@", "actions/cache/save@"))
    assert "RUNNER_TEMP" in steps[0]["run"] and "requirements.txt" in steps[0]["run"]
    assert _step("run")["env"]["CIRELAY_ARGS"] == "${{ inputs.args }}"


def test_the_setup_steps_share_scripts_setup_sh_with_the_orb() -> None:
    for step_id, mode in (("setup", "find"), ("install", "install")):
        step = _step(step_id)
        assert 'bash "$GITHUB_ACTION_PATH/scripts/setup.sh"' in step["run"]
        assert step["env"]["CIRELAY_SETUP_MODE"] == mode
    orb_setup = (ROOT / "orb" / "src" / "commands" / "setup.yml").read_text(encoding="utf-8")
    assert "CIRELAY_SETUP: <<include(../../scripts/setup.sh)>>" in orb_setup
    # The cache: keyed by OS, architecture and the set-up's name (Python version + requirements hash),
    # the same path restored and saved, never on a tag's run (cache poisoning of a release).
    restore, save = _step("restore"), _step("save")
    assert restore["uses"].split("@")[0] == "actions/cache/restore"
    assert save["uses"].split("@")[0] == "actions/cache/save"
    assert restore["uses"].split("@")[1] == save["uses"].split("@")[1]
    key = "cirelay-venv-${{ runner.os }}-${{ runner.arch }}-${{ steps.setup.outputs.name }}"
    assert restore["with"] == save["with"] == {"path": "${{ steps.setup.outputs.path }}", "key": key}
    for step in (restore, save):
        assert "inputs.cache == 'true' && github.ref_type != 'tag'" in step["if"]
    assert "steps.restore.outputs.cache-hit != 'true'" in save["if"]


def test_ci_runs_the_tests_on_every_supported_python_and_the_action() -> None:
    ci = _yaml(ROOT / ".github" / "workflows" / "ci.yml")
    assert ci["jobs"]["test"]["strategy"]["matrix"]["python"] == ["3.9", "3.10", "3.11", "3.12", "3.13"]
    assert ci["jobs"]["action"]["uses"] == "./.github/workflows/action-test.yml"
    test_workflow = _yaml(ROOT / ".github" / "workflows" / "action-test.yml")
    steps = test_workflow["jobs"]["action"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert any(step.get("uses") == "./" for step in steps)


# --- running the action ------------------------------------------------------------------------


def _bash_args(script: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False)


def test_args_reach_the_script_as_argv_without_a_shell(tmp_path: Path) -> None:
    """The run step's own bash, with a stand-in python that prints its argv as JSON."""
    run = _step("run")["run"]
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake_python.chmod(0o755)
    env = clean_env(
        {
            "GITHUB_ACTION_PATH": str(ROOT),
            "CIRELAY_VENV_PYTHON": str(fake_python),
            "CIRELAY_COMMAND": "port  entity upsert",
            "CIRELAY_ARGS": '--properties={"a": "b  c"}\n\n  --title=it\'s "quoted"\r\n--team=$HOME\n',
        }
    )
    done = _bash_args(run, env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        str(ROOT / "scripts" / "port.py"),
        "entity",
        "upsert",
        '--properties={"a": "b  c"}',
        '  --title=it\'s "quoted"',
        "--team=$HOME",
    ]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("jenkins job build", "must start with port, zadig, codearts or octoplant"),
        ("port", "needs a subcommand after port"),
        ("", "must start with port"),
    ],
)
def test_a_bad_command_is_a_usage_error(command: str, message: str) -> None:
    run = _step("run")["run"]
    env = clean_env({"GITHUB_ACTION_PATH": str(ROOT), "CIRELAY_VENV_PYTHON": sys.executable})
    env.update({"CIRELAY_COMMAND": command, "CIRELAY_ARGS": ""})
    done = _bash_args(run, env)
    assert done.returncode == 2
    assert "::error title=cirelay::" in done.stdout and message in done.stdout


def _action_env(tmp_path: Path, server_url: str, **extra: str) -> Dict[str, str]:
    fake = need_platform("port")
    return clean_env(
        {
            **offline_pip_env(wheelhouse()),
            **fake.env_for(server_url),
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "CIRELAY_INSTALLER": "pip",  # auto would take uv when the test extra put it on PATH
            **extra,
        }
    )


UPSERT = {"command": "port entity upsert", "args": "--blueprint=microservice\n--identifier=steps-test\n"}


class _Cache:
    """actions/cache/restore and save as the runner would call them, over a dict: an exact key
    and the same path restore (the real cache's version covers the paths too), a key never saved twice."""

    def __init__(self) -> None:
        self.entries: Dict[Any, Path] = {}
        self.folder = Path(tempfile.mkdtemp(prefix="cirelay-cache-"))
        self.log: List[str] = []

    def restore(self, given: Dict[str, str]) -> Dict[str, str]:
        saved = self.entries.get((given["key"], given["path"]))
        if saved is None:
            self.log.append(f"miss {given['key']}")
            return {"cache-hit": "false", "cache-primary-key": given["key"]}
        shutil.copytree(saved, given["path"], symlinks=True)
        self.log.append(f"hit {given['key']}")
        return {"cache-hit": "true", "cache-primary-key": given["key"], "cache-matched-key": given["key"]}

    def save(self, given: Dict[str, str]) -> Dict[str, str]:
        assert (given["key"], given["path"]) not in self.entries, "saved twice"
        copy = self.folder / str(len(self.entries))
        shutil.copytree(given["path"], copy, symlinks=True)
        self.entries[(given["key"], given["path"])] = copy
        self.log.append(f"saved {given['key']}")
        return {}

    def uses(self) -> Dict[str, Any]:
        return {"actions/cache/restore": self.restore, "actions/cache/save": self.save}


def test_a_fresh_job_installs_saves_to_the_cache_and_later_steps_and_jobs_install_nothing(tmp_path: Path) -> None:
    """The action's own steps, as the runner runs them, on a runner-like Python (pip, no requests)."""
    fake = need_platform("port").make_server()
    cache = _Cache()
    temp = tmp_path / "runner-temp"
    inputs = {**UPSERT, "python": runner_python()}
    try:
        env = _action_env(tmp_path, fake.start())
        temp.mkdir()
        first = run_action_steps(_yaml(ACTION), inputs, env, temp, uses=cache.uses())
        assert first["_ran"] == ["setup", "restore", "install", "save", "run"]
        name = first["setup"]["outputs"]["name"]
        path = temp / "cirelay-venv" / name
        assert first["setup"]["outputs"] == {"python": "", "ready": "false", "name": name, "path": str(path)}
        assert re.fullmatch(r"py3\.\d+\.\d+-[0-9a-f]{16}", name)
        assert f"cirelay: installing requests and click into {path} (pip)" in first["_done"]["install"].stderr
        assert first["install"]["outputs"]["python"] == str(path / "bin" / "python")
        assert json.loads(first["run"]["outputs"]["entity"])["identifier"] == "steps-test"
        assert cache.log == [f"miss cirelay-venv-Linux-X64-{name}", f"saved cirelay-venv-Linux-X64-{name}"]

        second = run_action_steps(_yaml(ACTION), inputs, env, temp, uses=cache.uses())  # the job's next step
        assert second["_ran"] == ["setup", "run"] and second["setup"]["outputs"]["ready"] == "true"
        assert "installing" not in second["_done"]["setup"].stderr

        shutil.rmtree(temp)  # a new job on a new runner: an empty RUNNER_TEMP, the cache has it
        temp.mkdir()
        fresh = run_action_steps(_yaml(ACTION), inputs, env, temp, uses=cache.uses())
        assert fresh["_ran"] == ["setup", "restore", "install", "run"]  # a cache hit is not saved again
        assert cache.log[2:] == [f"hit cirelay-venv-Linux-X64-{name}"]
        assert "installing" not in fresh["_done"]["install"].stderr
        assert json.loads(fresh["run"]["outputs"]["result"])["identifier"] == "steps-test"

        tag_temp = tmp_path / "tag-temp"
        tag_temp.mkdir()
        tag = run_action_steps(_yaml(ACTION), inputs, env, tag_temp, uses={}, ref_type="tag")
        assert tag["_ran"] == ["setup", "install", "run"]  # a tag's run: no cache at all
        off = tmp_path / "off-temp"
        off.mkdir()
        uncached = run_action_steps(_yaml(ACTION), {**inputs, "cache": "false"}, env, off, uses={})
        assert uncached["_ran"] == ["setup", "install", "run"]
    finally:
        fake.stop()


def test_an_interpreter_with_requests_and_click_is_used_as_it_is(tmp_path: Path) -> None:
    fake = need_platform("port").make_server()
    try:
        env = _action_env(tmp_path, fake.start())
        steps = run_action_steps(_yaml(ACTION), {**UPSERT, "python": sys.executable}, env, tmp_path, uses={})
    finally:
        fake.stop()
    assert steps["_ran"] == ["setup", "run"]
    assert steps["setup"]["outputs"]["python"] == sys.executable
    assert f"cirelay: {sys.executable} has requests and click, nothing to install" in steps["_done"]["setup"].stderr
    name = steps["setup"]["outputs"]["name"]
    assert not (tmp_path / "cirelay-venv").exists()  # nothing made, nothing for the cache to carry
    assert (tmp_path / "cirelay-venv-reuse" / name).read_text() == f"{sys.executable}\n"  # remembered for the job


def _uv_path() -> str:
    return os.pathsep.join([str(Path(tool("uv")).parent), os.environ.get("PATH", "")])


def test_uv_on_path_installs_from_the_same_index_settings(tmp_path: Path) -> None:
    """CIRELAY_INSTALLER=uv (auto picks it when uv is on PATH and no pip configuration file is
    there for uv to ignore): pip's index settings from the environment (here: no index, the
    offline wheel folder) go over to uv as its options."""
    fake = need_platform("port").make_server()
    try:
        env = _action_env(tmp_path, fake.start(), CIRELAY_INSTALLER="uv", PATH=_uv_path())
        steps = run_action_steps(_yaml(ACTION), {**UPSERT, "python": runner_python(), "cache": "false"}, env, tmp_path)
    finally:
        fake.stop()
    assert steps["_ran"] == ["setup", "install", "run"], steps["_done"]["install"].stderr
    path = Path(steps["setup"]["outputs"]["path"])
    assert f"cirelay: installing requests and click into {path} (uv)" in steps["_done"]["install"].stderr
    assert json.loads(steps["run"]["outputs"]["entity"])["identifier"] == "steps-test"
    assert not list(path.glob("lib/python*/site-packages/pip"))  # no ensurepip, no pip: only the pins


def test_auto_leaves_uv_alone_when_a_pip_configuration_file_names_the_index(tmp_path: Path) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nno-index = true\nfind-links = " + str(wheelhouse()) + "\n")
    env = _action_env(
        tmp_path, "http://127.0.0.1:9", PATH=_uv_path(), PIP_CONFIG_FILE=str(config), CIRELAY_INSTALLER="auto"
    )
    for name in ("PIP_NO_INDEX", "PIP_FIND_LINKS"):
        env.pop(name)
    steps = run_action_steps(_yaml(ACTION), {**UPSERT, "python": runner_python(), "cache": "false"}, env, tmp_path)
    assert "(pip)" in steps["_done"]["install"].stderr, steps["_done"]["install"].stderr
    assert steps["install"]["outcome"] == "success"


def test_the_set_up_runs_on_python_39(tmp_path: Path) -> None:
    """The oldest Python the README promises, as the action's python input (skipped without one)."""
    from tests.test_python39 import _python39

    python = _python39()
    fake = need_platform("port").make_server()
    try:
        env = _action_env(tmp_path, fake.start())
        for name in offline_pip_env(Path()):  # the index, as test_python39.py: the offline wheels are this Python's
            env.pop(name, None)
        steps = run_action_steps(_yaml(ACTION), {**UPSERT, "python": python, "cache": "false"}, env, tmp_path)
    finally:
        fake.stop()
    assert steps["_ran"][-1] == "run" and steps["run"]["outcome"] == "success", steps["_done"]
    assert steps["setup"]["outputs"]["name"].startswith("py3.9.")
    assert json.loads(steps["run"]["outputs"]["entity"])["identifier"] == "steps-test"


def test_a_python_that_is_missing_or_too_old_is_exit_2_naming_it(tmp_path: Path) -> None:
    env = _action_env(tmp_path, "http://127.0.0.1:9")
    steps = run_action_steps(_yaml(ACTION), {**UPSERT, "python": str(tmp_path / "no-python")}, env, tmp_path)
    done = steps["_done"]["setup"]
    assert steps["_ran"] == ["setup"] and done.returncode == 2
    assert (
        done.stdout
        == f"::error title=cirelay set-up::CIRELAY_PYTHON: {tmp_path / 'no-python'} is not an interpreter on PATH\n"
    )
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = [str(p) for p in sorted(pyenv.glob("3.8*/bin/python3.8"))]
    if not found:
        return  # no Python 3.8 here to try the version check with
    old = found[0]
    steps = run_action_steps(_yaml(ACTION), {**UPSERT, "python": old}, env, tmp_path)
    done = steps["_done"]["setup"]
    assert done.returncode == 2 and "cirelay needs Python 3.9 or later" in done.stderr, done.stderr
    assert "::error title=cirelay set-up::CIRELAY_PYTHON:" in done.stdout


def test_a_failed_install_exits_2_naming_the_package_and_the_index_error(tmp_path: Path) -> None:
    partial = tmp_path / "wheels"
    shutil.copytree(wheelhouse(), partial)
    for wheel in partial.glob("charset_normalizer-*"):
        wheel.unlink()
    env = _action_env(tmp_path, "http://127.0.0.1:9", PIP_FIND_LINKS=str(partial))
    temp = tmp_path / "temp"
    temp.mkdir()
    steps = run_action_steps(_yaml(ACTION), {**UPSERT, "python": runner_python(), "cache": "false"}, env, temp)
    assert steps["_ran"] == ["setup", "install"] and steps["install"]["outcome"] == "failure"
    done = steps["_done"]["install"]
    assert done.returncode == 2
    assert done.stdout.startswith("::error title=cirelay set-up::could not install charset-normalizer==3.5.3 from")
    assert "No matching distribution found for charset-normalizer==3.5.3" in done.stdout  # pip's own words
    assert not (temp / "cirelay-venv" / steps["setup"]["outputs"]["name"]).exists()  # nothing half-made


def _copy_repo(dest: Path, with_fakes: bool) -> None:
    """The files a workflow run of the action needs, as a git repository (act reads its HEAD)."""
    shutil.copy2(ROOT / "action.yml", dest / "action.yml")
    shutil.copytree(ROOT / "scripts", dest / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    if with_fakes:  # the workflow starts them itself, as on GitHub (python -m cirelay.emulators, from src/)
        # The package as checked out: the emulators and the publishers' contracts they read (package data).
        shutil.copytree(
            ROOT / "src" / "cirelay", dest / "src" / "cirelay", ignore=shutil.ignore_patterns("__pycache__")
        )
    (dest / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(ROOT / ".github" / "workflows" / "action-test.yml", dest / ".github" / "workflows")
    git = [
        "git",
        "-c",
        "user.name=cirelay",
        "-c",
        "user.email=cirelay@example.invalid",
        "-c",
        "init.defaultBranch=main",
    ]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "action under test"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True, timeout=30)


STAND_INS = ROOT / "tests" / "stand_ins"


def _cache_action_ref() -> str:
    """actions/cache@SHA as action.yml pins it, for act's --local-repository."""
    (sha,) = {_step(i)["uses"].split("@")[1] for i in ("restore", "save")}
    return f"actions/cache@{sha}"


def _act(repo: Path, cache: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    act_args = ["workflow_dispatch", "-W", ".github/workflows/action-test.yml", "-P", "ubuntu-latest=-self-hosted"]
    act_args += ["--action-offline-mode", "--no-cache-server", "--action-cache-path", str(cache)]
    # actions/cache from GitHub cannot be fetched here: its stand-in (same inputs and outputs, a
    # local folder for the cache service) takes its place, at the commit action.yml pins.
    act_args += ["--local-repository", f"{_cache_action_ref()}={STAND_INS / 'actions_cache'}"]
    return subprocess.run(
        [tool("act"), *act_args],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,  # as in CI: nothing to answer a prompt with
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _act_env(wheels: Path, out: Path, python: str = sys.executable) -> Dict[str, str]:
    return clean_env(
        {
            **offline_pip_env(wheels),
            "CIRELAY_TEST_OUT": str(out),
            "CIRELAY_TEST_PYTHON": python,
            "CIRELAY_TEST_ACTIONS_CACHE": str(out / "actions-cache"),
            "PATH": path_with_python(),
        }
    )


def _folders(tmp_path: Path) -> List[Path]:
    folders = [tmp_path / "repo", tmp_path / "out", tmp_path / "act-cache"]
    for folder in folders:
        folder.mkdir()
    return folders


def test_the_action_runs_under_act_against_the_fakes(tmp_path: Path) -> None:
    """The fakes run in this process, so the test sees what they were sent and the tokens they issued.

    Twice, on a runner-like Python (pip, no requests): cold (the first step installs and saves the
    environment to the cache), then warm, as a new job (a new act cache folder, so an empty
    RUNNER_TEMP) that restores it from the cache and installs nothing."""
    fakes = {name: need_platform(name) for name in ("port", "zadig", "codearts", "octoplant")}
    wheels = wheelhouse()
    repo, out, cache = _folders(tmp_path)
    _copy_repo(repo, with_fakes=False)
    servers = {name: module.make_server() for name, module in fakes.items()}
    env = _act_env(wheels, out, python=runner_python())
    try:
        for name, server in servers.items():
            env.update(fakes[name].env_for(server.start()))
        done = _act(repo, cache, env)
        warm = _act(repo, tmp_path / "act-cache-warm", env)
    finally:
        for server in servers.values():
            server.stop()
    port = servers["port"]
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "Job succeeded" in log
    assert len(re.findall(r"cirelay: installing requests and click into \S+/cirelay-venv/py3", log)) == 1, log[-6000:]
    assert re.search(r"stand-in cache: no entry for cirelay-venv-Linux-\w+-py3\.\d+\.\d+-[0-9a-f]{16}", log)
    assert re.search(r"stand-in cache: saved cirelay-venv-Linux-\w+-py3\.\d+\.\d+-[0-9a-f]{16}", log)
    warm_log = warm.stdout + warm.stderr
    assert warm.returncode == 0 and "Job succeeded" in warm_log, warm_log[-6000:]
    assert re.search(r"stand-in cache: restored cirelay-venv-Linux-\w+-py3", warm_log), warm_log[-6000:]
    assert "installing requests and click" not in warm_log and "stand-in cache: saved" not in warm_log

    # Declared outputs, as the workflow saw them.
    upsert = json.loads((out / "upsert-outputs.json").read_text())
    assert set(upsert) >= REQUIRED_OUTPUTS
    assert upsert["identifier"] == "cirelay-action-test"
    assert json.loads(upsert["entity"])["properties"] == {"version": "1.2.3", "note": "it's  spaced"}
    assert json.loads(upsert["result"]) == json.loads(upsert["entity"])
    assert upsert["run-id"] == upsert["path"] == ""  # declared, not written by this command
    got = json.loads((out / "get-outputs.json").read_text())
    assert json.loads(got["entity"])["title"] == 'Action test with "quotes" and  two spaces'
    assert port.entities["microservice"]["cirelay-action-test"]["team"] == ["platform"]
    zadig = json.loads((out / "zadig-outputs.json").read_text())
    assert zadig["status"] == "passed" and json.loads(zadig["result"])["task_id"] == int(zadig["task-id"])
    codearts = json.loads((out / "codearts-outputs.json").read_text())
    assert codearts["status"] == "COMPLETED" and codearts["run-id"] in servers["codearts"].runs
    octoplant = json.loads((out / "octoplant-outputs.json").read_text())
    assert len(octoplant["sha256"]) == 64 and octoplant["path"].endswith("octoplant-export.zip")

    # The failing step failed with the script's message.
    assert "entity no-such-service not found in blueprint microservice" in log

    # Masking: the token the action got is never in the log; printed later it shows as ***.
    tokens = list(port.tokens)
    assert tokens, "the fake issued no token"
    for token in tokens:
        assert token not in log
    assert re.search(r'"accessToken":\s*"\*\*\*"', log), log[-3000:]
    secrets = (
        fakes["port"].CLIENT_SECRET,
        fakes["zadig"].FAKE_TOKEN,
        fakes["codearts"].SK,
        fakes["octoplant"].PASSWORD,
    )
    for secret in secrets:
        assert secret not in log

    # The job summary got the script's Markdown: a heading saying what ran, then the facts.
    assert "Summary - ### Port microservice cirelay-action-test: upserted" in log, log[-3000:]
    assert "- **identifier**: cirelay-action-test" in log
    # The failing step raised an error annotation (act shows it as the runner would, with ❗).
    assert re.search(
        r"❗  ::error title=cirelay port entity get::entity no-such-service not found in blueprint microservice: ", log
    ), log[-3000:]


def test_the_test_workflow_starts_its_own_fakes_as_on_github(tmp_path: Path) -> None:
    for name in ("port", "zadig", "codearts", "octoplant"):
        need_platform(name)
    wheels = wheelhouse()
    repo, out, cache = _folders(tmp_path)
    _copy_repo(repo, with_fakes=True)
    done = _act(repo, cache, _act_env(wheels, out))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "emulators listening: port, zadig, codearts, octoplant" in log
    assert "Success - Main Stop the fake APIs" in log
    assert json.loads((out / "upsert-outputs.json").read_text())["identifier"] == "cirelay-action-test"
    assert re.search(r'"accessToken":\s*"\*\*\*"', log)
    assert not re.search(r"fake-port-token-[0-9a-f]", log)
