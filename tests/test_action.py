"""The GitHub composite action (action.yml) and the project's workflows: lint, then run them.

The execution test runs .github/workflows/action-test.yml under nektos/act on this machine
(`-P ubuntu-latest=-self-hosted`: no Docker) against the Port fake started here. act skips
actions/checkout when the workflow checks out the repository under test (it copies the working
tree instead), so no action is fetched and `--action-offline-mode` keeps it from trying.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest
import yaml

from tests.ci_helpers import ROOT, need_platform, offline_pip_env, path_with_python, tool, wheelhouse
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


def test_inputs_are_the_documented_three() -> None:
    action = _yaml(ACTION)
    assert set(action["inputs"]) == {"command", "args", "python"}
    assert action["inputs"]["command"]["required"] is True
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


def test_the_action_steps_are_bash_with_values_through_env() -> None:
    steps = _yaml(ACTION)["runs"]["steps"]
    assert _yaml(ACTION)["runs"]["using"] == "composite"
    assert [s["id"] for s in steps] == ["setup", "run"]
    for step in steps:
        assert step["shell"] == "bash"
    assert "RUNNER_TEMP" in steps[0]["run"] and "requirements.txt" in steps[0]["run"]
    assert steps[1]["env"]["CIRELAY_ARGS"] == "${{ inputs.args }}"


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
    run = _yaml(ACTION)["runs"]["steps"][1]["run"]
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
    run = _yaml(ACTION)["runs"]["steps"][1]["run"]
    env = clean_env({"GITHUB_ACTION_PATH": str(ROOT), "CIRELAY_VENV_PYTHON": sys.executable})
    env.update({"CIRELAY_COMMAND": command, "CIRELAY_ARGS": ""})
    done = _bash_args(run, env)
    assert done.returncode == 2
    assert "::error title=cirelay::" in done.stdout and message in done.stdout


def _copy_repo(dest: Path, with_fakes: bool) -> None:
    """The files a workflow run of the action needs, as a git repository (act reads its HEAD)."""
    shutil.copy2(ROOT / "action.yml", dest / "action.yml")
    shutil.copytree(ROOT / "scripts", dest / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    if with_fakes:  # the workflow starts them itself, as on GitHub
        (dest / "tests").mkdir()
        shutil.copy2(ROOT / "tests" / "__init__.py", dest / "tests")
        shutil.copytree(
            ROOT / "tests" / "fakes", dest / "tests" / "fakes", ignore=shutil.ignore_patterns("__pycache__")
        )
        # The fakes answer by the publishers' contracts, which they read from here.
        shutil.copytree(ROOT / "tests" / "contracts", dest / "tests" / "contracts")
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


def _act(repo: Path, cache: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    act_args = ["workflow_dispatch", "-W", ".github/workflows/action-test.yml", "-P", "ubuntu-latest=-self-hosted"]
    act_args += ["--action-offline-mode", "--no-cache-server", "--action-cache-path", str(cache)]
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


def _act_env(wheels: Path, out: Path) -> Dict[str, str]:
    return clean_env(
        {
            **offline_pip_env(wheels),
            "CIRELAY_TEST_OUT": str(out),
            "CIRELAY_TEST_PYTHON": sys.executable,
            "PATH": path_with_python(),
        }
    )


def _folders(tmp_path: Path) -> List[Path]:
    folders = [tmp_path / "repo", tmp_path / "out", tmp_path / "act-cache"]
    for folder in folders:
        folder.mkdir()
    return folders


def test_the_action_runs_under_act_against_the_fakes(tmp_path: Path) -> None:
    """The fakes run in this process, so the test sees what they were sent and the tokens they issued."""
    fakes = {name: need_platform(name) for name in ("port", "zadig", "codearts", "octoplant")}
    wheels = wheelhouse()
    repo, out, cache = _folders(tmp_path)
    _copy_repo(repo, with_fakes=False)
    servers = {name: module.make_server() for name, module in fakes.items()}
    env = _act_env(wheels, out)
    try:
        for name, server in servers.items():
            env.update(fakes[name].env_for(server.start()))
        done = _act(repo, cache, env)
    finally:
        for server in servers.values():
            server.stop()
    port = servers["port"]
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "Job succeeded" in log

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
    assert "fakes listening: port, zadig, codearts, octoplant" in log
    assert "Success - Main Stop the fake APIs" in log
    assert json.loads((out / "upsert-outputs.json").read_text())["identifier"] == "cirelay-action-test"
    assert re.search(r'"accessToken":\s*"\*\*\*"', log)
    assert not re.search(r"fake-port-token-[0-9a-f]", log)
