"""cirelay-emulators (python -m cirelay.emulators): serve writes sourceable export lines, fixtures shows the data.

Every run here is a subprocess in a folder that is not the project (tmp_path), with no credentials in its
environment but what the emulators' env file gives it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from cirelay.emulators import PLATFORMS, available
from cirelay.emulators import codearts as emu_codearts
from cirelay.emulators import octoplant as emu_octoplant
from cirelay.emulators import port as emu_port
from cirelay.emulators import zadig as emu_zadig
from cirelay.emulators.cli import env_lines
from tests.conftest import ROOT, SCRIPTS, clean_env

EMULATORS = [sys.executable, "-m", "cirelay.emulators"]
EXPORT = re.compile(r"^export [A-Z][A-Z0-9_]*=\S+$")


def _run(args: List[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120, check=False)


def test_help_names_both_commands(tmp_path: Path) -> None:
    done = _run([*EMULATORS, "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: cirelay-emulators [-h] COMMAND ...")
    assert "serve" in done.stdout and "fixtures" in done.stdout
    serve = _run([*EMULATORS, "serve", "--help"], tmp_path)
    assert serve.returncode == 0
    for option in ("--env-file", "--platform", "--format", "--detach"):
        assert option in serve.stdout
    installed = Path(sys.executable).parent / "cirelay-emulators"
    if installed.exists():  # pip install -e '.[test]' made the console command
        assert _run([str(installed), "--help"], tmp_path).stdout == done.stdout
    bad = _run([*EMULATORS, "serve", "--platform", "jenkins"], tmp_path)
    assert bad.returncode == 2 and "invalid choice: 'jenkins'" in bad.stderr


def test_env_lines_are_shell_quoted() -> None:
    text = env_lines({"A": "it's a $HOME `x`", "B": "plain"})
    assert text == "export A='it'\"'\"'s a $HOME `x`'\nexport B=plain\n"
    done = subprocess.run(["bash", "-c", text + 'printf %s "$A"'], capture_output=True, text=True, check=True)
    assert done.stdout == "it's a $HOME `x`"
    assert env_lines({"A": "x"}, "dotenv") == "A=x\n"
    with pytest.raises(ValueError, match="A holds a line break"):
        env_lines({"A": "x\ny"}, "dotenv")


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert path.exists(), f"no env file; exit {proc.poll()}"


def test_serve_writes_and_prints_export_lines_a_shell_can_source(tmp_path: Path) -> None:
    env_file = tmp_path / "emulators.env"
    proc = subprocess.Popen(
        [*EMULATORS, "serve", "--env-file", str(env_file)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(env_file, proc)
        text = env_file.read_text(encoding="utf-8")
        lines = text.splitlines()
        assert proc.stdout is not None
        printed = [proc.stdout.readline().rstrip("\n") for _ in lines]
        assert printed == lines  # the same lines on stdout, for eval
        assert all(EXPORT.match(line) for line in lines), lines
        names = [line.split("=", 1)[0].split()[1] for line in lines]
        for _, module in available():
            assert set(module.env_for("http://x")) <= set(names)
        assert f"export CIRELAY_EMULATORS_PID={proc.pid}" in lines
        # Sourced by a shell whose environment has no credentials at all: the scripts work.
        script = (
            f". {shlex.quote(str(env_file))}\n"
            f"python {SCRIPTS / 'port.py'} entity get --blueprint microservice --identifier payments\n"
        )
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["identifier"] == "payments"
        assert emu_port.CLIENT_SECRET not in done.stdout + done.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert proc.stderr is not None
    assert "emulators listening: port, zadig, codearts, octoplant" in proc.stderr.read()


def test_serve_detach_is_for_eval_and_stops_on_kill(tmp_path: Path) -> None:
    script = (
        f'eval "$({shlex.join(EMULATORS)} serve --detach --platform port --platform octoplant)"\n'
        'echo "pid=$CIRELAY_EMULATORS_PID"\n'
        f"python {SCRIPTS / 'port.py'} entity get --blueprint microservice --identifier checkout\n"
    )
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(r"^pid=(\d+)$", done.stdout, re.M)
    assert found, done.stdout + done.stderr
    pid = int(found.group(1))
    try:
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout[found.end() :])["identifier"] == "checkout"
        os.kill(pid, 0)  # still serving after the shell that started it ended
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"emulators {pid} still running after SIGTERM")


def test_fixtures_names_what_each_emulator_holds(tmp_path: Path) -> None:
    done = _run([*EMULATORS, "fixtures"], tmp_path)
    assert done.returncode == 0, done.stderr
    shown: Dict[str, Dict] = json.loads(done.stdout)
    assert list(shown) == list(PLATFORMS)

    port = emu_port.make_server()
    assert shown["port"]["blueprints"] == sorted(port.blueprints)
    assert shown["port"]["entities"]["microservice"] == sorted(port.entities["microservice"])
    assert set(shown["port"]["actions"]) == set(port.actions)
    assert shown["port"]["runs"][emu_port.SEEDED_RUN]["action"] == port.runs[emu_port.SEEDED_RUN]["action"]
    assert shown["port"]["credentials"] == {"client_id": emu_port.CLIENT_ID, "client_secret": emu_port.CLIENT_SECRET}

    zadig = emu_zadig.make_server()
    assert shown["zadig"]["seed_commit"] == emu_zadig.SEED_COMMIT
    assert shown["zadig"]["projects"] == [emu_zadig.PROJECT]
    assert set(shown["zadig"]["custom_workflows"]) == set(zadig.custom)
    assert set(shown["zadig"]["legacy_workflows"]) == set(zadig.legacy)
    assert {(t["workflow"], t["task_id"]) for t in shown["zadig"]["legacy_tasks"]} == set(zadig.legacy_tasks)
    assert all(t["commit_id"] == emu_zadig.SEED_COMMIT for t in shown["zadig"]["legacy_tasks"])
    assert shown["zadig"]["credentials"]["token"] == emu_zadig.FAKE_TOKEN

    codearts = emu_codearts.make_server()
    assert shown["codearts"]["project_id"] == emu_codearts.PROJECT_ID
    assert {p["id"]: p["name"] for p in shown["codearts"]["pipelines"]} == {
        pid: p["name"] for pid, p in codearts.pipelines.items()
    }
    build = next(p for p in shown["codearts"]["pipelines"] if p["name"] == "build-and-deploy")
    assert build["id"] == codearts.pipeline_id("build-and-deploy")
    assert len(build["runs"]) == sum(1 for r in codearts.runs.values() if r["pipeline_id"] == build["id"])

    assert shown["octoplant"]["export_kinds"] == list(emu_octoplant.KINDS)
    assert shown["octoplant"]["credentials"]["username"] == emu_octoplant.USERNAME

    only = json.loads(_run([*EMULATORS, "fixtures", "--platform", "zadig"], tmp_path).stdout)
    assert list(only) == ["zadig"]


def test_the_emulators_run_without_jsonschema(tmp_path: Path) -> None:
    """jsonschema is the optional `emulators` extra: without it they serve, unchecked."""
    probe = (
        "import sys, json, urllib.request\n"
        "sys.modules['jsonschema'] = None  # as if it were not installed\n"
        "from cirelay.emulators import start_all\n"
        "from cirelay.emulators import port_contract, octoplant\n"
        "servers, env, started = start_all()\n"
        "body = json.dumps({'clientId': env['PORT_CLIENT_ID'], 'clientSecret': env['PORT_CLIENT_SECRET']}).encode()\n"
        "req = urllib.request.Request(env['PORT_BASE_URL'] + '/v1/auth/access_token', body,\n"
        "                             {'Content-Type': 'application/json'})\n"
        "print(urllib.request.urlopen(req).status, port_contract.CAN_CHECK, octoplant.CONTRACT_CHECKED, started)\n"
        "for s in servers: s.stop()\n"
    )
    done = _run([sys.executable, "-c", probe], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200 False False ['port', 'zadig', 'codearts', 'octoplant']"


def test_the_emulators_are_not_bundled_into_the_scripts() -> None:
    for script in SCRIPTS.glob("*.py"):
        assert "cirelay.emulators" not in script.read_text(encoding="utf-8"), script
    assert not list((ROOT / "tests").glob("fakes/*.py"))  # one home: src/cirelay/emulators


def test_serve_stops_on_ctrl_c_with_exit_0(tmp_path: Path) -> None:
    env_file = tmp_path / "zadig.env"
    proc = subprocess.Popen(
        [*EMULATORS, "serve", "--platform", "zadig", "--env-file", str(env_file)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(env_file, proc)
        names = [line.split("=", 1)[0] for line in env_file.read_text(encoding="utf-8").splitlines()]
        assert names == ["export ZADIG_URL", "export ZADIG_TOKEN", "export CIRELAY_EMULATORS_PID"]
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
