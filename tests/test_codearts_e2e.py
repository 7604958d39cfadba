"""scripts/codearts.py run as a CI step would, against the fake CodeArts on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from tests.conftest import SCRIPTS, clean_env, github_outputs, run_script
from tests.fakes import codearts as fake_codearts

SECRETS = (fake_codearts.SK, fake_codearts.PASSWORD, fake_codearts.TOKEN)


@pytest.fixture
def fake() -> Iterator[fake_codearts.FakeCodeArts]:
    server = fake_codearts.make_server()
    server.start()
    yield server
    server.stop()


def env_of(fake: fake_codearts.FakeCodeArts, **extra: str) -> Dict[str, str]:
    env = fake_codearts.env_for(fake.url)
    env.update(extra)
    return env


def codearts(
    fake: fake_codearts.FakeCodeArts, *args: str, env: Optional[Dict[str, str]] = None
) -> subprocess.CompletedProcess:
    """Run the script; whatever it prints never holds a secret the fake knows."""
    done = run_script("codearts", *args, env=env if env is not None else env_of(fake))
    for secret in SECRETS:
        assert secret not in done.stdout
        assert secret not in done.stderr
    return done


def test_start_and_wait_through_a_whole_run_signed_with_the_key_pair(
    fake: fake_codearts.FakeCodeArts, tmp_path: Path
) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    fake.set_script(pipeline, ["QUEUED", "RUNNING", "COMPLETED"])
    env = env_of(fake, GITHUB_OUTPUT=str(tmp_path / "out"))
    done = codearts(
        fake, "run", "start", "--pipeline-id", pipeline, "--branch", "release/1.2", "--var", "ENV=staging",
        "--wait", "--poll-max", "1", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "COMPLETED"
    assert done.stderr.splitlines() == [
        f"started pipeline run {run['id']}",
        f"pipeline run {run['id']}: QUEUED: Build INIT, Deploy INIT",
        f"pipeline run {run['id']}: RUNNING: Build RUNNING, Deploy INIT",
        f"pipeline run {run['id']}: COMPLETED: Build COMPLETED, Deploy COMPLETED",
    ]
    sent = fake.runs[run["id"]]["body"]
    assert sent["variables"] == [{"name": "ENV", "value": "staging"}]
    assert sent["sources"][0]["params"]["build_params"] == {
        "build_type": "branch",
        "target_branch": "release/1.2",
        "event_type": "Manual",
    }
    assert fake.auth_failures == []
    assert all(r.headers["authorization"].startswith("SDK-HMAC-SHA256 Access=") for r in fake.requests)
    outputs = github_outputs(tmp_path / "out")
    assert outputs["run-id"] == run["id"]
    assert outputs["status"] == "COMPLETED"
    assert outputs["url"] == run["detail_url"]


@pytest.mark.parametrize(("final", "code"), [("COMPLETED", 0), ("FAILED", 1), ("CANCELED", 1), ("IGNORED", 0)])
def test_wait_exit_code_for_every_terminal_state(fake: fake_codearts.FakeCodeArts, final: str, code: int) -> None:
    pipeline = fake.pipeline_id("release-with-approval")
    fake.set_script(pipeline, ["PAUSED", final])
    run_id = fake.new_run(pipeline)
    done = codearts(fake, "run", "wait", "--pipeline-id", pipeline, "--run-id", run_id, "--poll-max", "1")
    assert done.returncode == code, done.stderr
    assert json.loads(done.stdout)["status"] == final
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"pipeline run {run_id}: PAUSED (waiting for someone")
    assert lines[1].startswith(f"pipeline run {run_id}: {final}: ")
    url = json.loads(done.stdout)["detail_url"]
    if code:
        assert lines[-1].startswith(f"Error: pipeline run {run_id} ended {final}")
        assert lines[-1].endswith(f"({url})")
    elif final == "IGNORED":
        assert lines[-1].startswith(f"warning: pipeline run {run_id} was IGNORED")


@pytest.mark.parametrize("cancel", [False, True])
def test_timeout_is_exit_3_and_cancels_when_asked(fake: fake_codearts.FakeCodeArts, cancel: bool) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["RUNNING"])
    run_id = fake.new_run(pipeline)
    args = ["run", "wait", "--pipeline-id", pipeline, "--run-id", run_id, "--poll-max", "1", "--timeout", "1"]
    done = codearts(fake, *args, *(["--cancel-on-timeout"] if cancel else []))
    assert done.returncode == 3, done.stderr
    ending = (
        " and cancelled it (https://devcloud." if cancel else "; it may still be running remotely (https://devcloud."
    )
    assert ending in done.stderr
    stops = fake.seen("POST", f".*/pipeline-runs/{run_id}/stop")
    assert len(stops) == (1 if cancel else 0)
    assert json.loads(done.stdout)["status"] == ("CANCELED" if cancel else "RUNNING")


def test_sigterm_while_waiting_cancels_and_exits_130(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["RUNNING"])
    run_id = fake.new_run(pipeline)
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "codearts.py"), "run", "wait", "--pipeline-id", pipeline, "--run-id", run_id,
         "--cancel-on-timeout"],
        env=clean_env(env_of(fake)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not fake.seen("GET", r".*/pipeline-runs/detail") and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.splitlines()[-2:] == [f"cancelling pipeline run {run_id}", "Interrupted."]
    assert len(fake.seen("POST", f".*/pipeline-runs/{run_id}/stop")) == 1
    assert json.loads(out)["status"] == "CANCELED"


def test_run_start_is_sent_once_when_the_server_answers_503(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    before = len(fake.runs)
    fake.fail_next(1, 503, {"error_code": "DEVPIPE.00011500", "error_msg": "service busy"}, match=r"^POST .*/run$")
    done = codearts(fake, "run", "start", "--pipeline-id", pipeline, "--wait")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: service busy (503, POST ")
    assert len(fake.seen("POST", r".*/pipelines/[0-9a-f]+/run")) == 1
    assert len(fake.runs) == before
    assert done.stdout == ""


def test_polling_survives_dropped_connections_and_5xx(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["COMPLETED"])
    run_id = fake.new_run(pipeline)
    fake.drop_next(1, match="GET .*/detail")
    fake.fail_next(1, 502, match="GET .*/detail")
    done = codearts(fake, "run", "get", "--pipeline-id", pipeline, "--run-id", run_id)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "COMPLETED"


def test_password_login_token_and_paging(fake: fake_codearts.FakeCodeArts) -> None:
    env = {
        "CODEARTS_ENDPOINT": fake.url,
        "CODEARTS_PROJECT_ID": fake_codearts.PROJECT_ID,
        "HUAWEICLOUD_USERNAME": fake_codearts.USERNAME,
        "HUAWEICLOUD_PASSWORD": fake_codearts.PASSWORD,
        "HUAWEICLOUD_DOMAIN": fake_codearts.DOMAIN,
        "HUAWEICLOUD_IAM_ENDPOINT": fake.url,
        "GITHUB_ACTIONS": "true",
    }
    done = run_script("codearts", "pipeline", "list", env=env)
    assert done.returncode == 0, done.stderr
    names = [p["name"] for p in json.loads(done.stdout)]
    assert names == ["build-and-deploy", "nightly-tests", "release-with-approval"]
    assert len(fake.seen("POST", "/v3/auth/tokens")) == 1
    assert len(fake.seen("POST", r".*/pipelines/list")) == 2  # the fake pages by 2
    issued = fake.seen("POST", r".*/pipelines/list")[0].headers["x-auth-token"]
    assert done.stderr == f"::add-mask::{issued}\n"
    assert fake_codearts.PASSWORD not in done.stdout + done.stderr


def test_wrong_password_token_or_key(fake: fake_codearts.FakeCodeArts) -> None:
    login = {
        "CODEARTS_ENDPOINT": fake.url,
        "CODEARTS_PROJECT_ID": fake_codearts.PROJECT_ID,
        "HUAWEICLOUD_USERNAME": fake_codearts.USERNAME,
        "HUAWEICLOUD_PASSWORD": "not-the-password",
        "HUAWEICLOUD_DOMAIN": fake_codearts.DOMAIN,
        "HUAWEICLOUD_IAM_ENDPOINT": fake.url,
    }
    done = run_script("codearts", "pipeline", "list", env=login)
    assert done.returncode == 1
    assert "IAM did not accept the user name, password and domain (HTTP 401): The username or password" in done.stderr
    assert "not-the-password" not in done.stderr

    token = {"CODEARTS_ENDPOINT": fake.url, "CODEARTS_PROJECT_ID": fake_codearts.PROJECT_ID, "CODEARTS_TOKEN": "stale"}
    done = run_script("codearts", "pipeline", "list", env=token)
    assert done.returncode == 1
    assert "authentication failed (HTTP 401): check CODEARTS_TOKEN or the access key pair: " in done.stderr
    assert "stale" not in done.stderr

    done = codearts(fake, "pipeline", "list", env=env_of(fake, HUAWEICLOUD_SDK_SK="wrong-secret-key"))
    assert done.returncode == 1
    assert "Incorrect IAM authentication information: signature mismatch" in done.stderr
    assert "wrong-secret-key" not in done.stderr
    assert fake.auth_failures == ["unknown token", "signature mismatch"]


def test_token_auth_and_missing_credentials(fake: fake_codearts.FakeCodeArts) -> None:
    env = {
        "CODEARTS_ENDPOINT": fake.url,
        "CODEARTS_PROJECT_ID": fake_codearts.PROJECT_ID,
        "CODEARTS_TOKEN": fake_codearts.TOKEN,
    }
    pipeline = fake.pipeline_id("build-and-deploy")
    done = codearts(fake, "run", "list", "--pipeline-id", pipeline, "--status", "COMPLETED", env=env)
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)
    assert [r["status"] for r in runs] == ["COMPLETED", "COMPLETED"]
    assert runs[0]["start_time"] > runs[1]["start_time"]
    del env["CODEARTS_TOKEN"]
    done = codearts(fake, "pipeline", "list", env=env)
    assert done.returncode == 2
    assert "no CodeArts credentials" in done.stderr


def test_logs_of_every_step_in_order(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    fake.set_script(pipeline, ["COMPLETED"])
    run_id = fake.new_run(pipeline, {"variables": [{"name": "ENV", "value": "prod"}]})
    done = codearts(fake, "run", "logs", "--pipeline-id", pipeline, "--run-id", run_id)
    assert done.returncode == 0, done.stderr
    run = fake.runs[run_id]
    expected: List[str] = []
    for job, step in (("Build image", "Checkout"), ("Build image", "Maven build"), ("Deploy to CCE", "Helm upgrade")):
        expected.append(f"===== job: {job} / step: {step} =====\n")
        expected.append(fake._log_text(run, job, step))
    assert done.stdout == "".join(expected)
    assert "variables: ENV=prod" in done.stdout
    # 6 lines a step, 3 a page: every step took two log requests
    assert len(fake.seen("POST", r".*/logs")) == 6

    detail = json.loads(codearts(fake, "run", "get", "--pipeline-id", pipeline, "--run-id", run_id).stdout)
    job = detail["stages"][1]["jobs"][0]
    args = ["--job-run-id", job["id"], "--step-run-id", job["steps"][0]["id"]]
    done = codearts(fake, "run", "logs", "--pipeline-id", pipeline, "--run-id", run_id, *args)
    assert done.stdout == fake._log_text(run, "Deploy to CCE", "Helm upgrade")


def test_stop_a_running_run_then_stop_again(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["RUNNING"])
    run_id = fake.new_run(pipeline)
    done = codearts(fake, "run", "stop", "--pipeline-id", pipeline, "--run-id", run_id)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"success": True}
    done = codearts(fake, "run", "stop", "--pipeline-id", pipeline, "--run-id", run_id)
    assert done.returncode == 1
    assert "the pipeline run has already ended (CANCELED) (400, POST " in done.stderr
    done = codearts(fake, "run", "get", "--pipeline-id", pipeline, "--run-id", "0" * 32)
    assert done.returncode == 1
    assert f"run {'0' * 32} of pipeline {pipeline} not found: the pipeline run does not exist (404" in done.stderr


def test_template_create_and_wait_then_list_it(fake: fake_codearts.FakeCodeArts, tmp_path: Path) -> None:
    fake.template_script = ["processing", "succeeded"]
    body = {"flow": {"initial": {"final": "always"}}, "states": {}, "workflow": {"name": "from-cddl"}}
    (tmp_path / "cddl.json").write_text(json.dumps(body))
    done = codearts(fake, "template", "create", "--file", str(tmp_path / "cddl.json"), "--wait", "--poll-max", "1")
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["task_status"] == "succeeded"
    assert state["pipeline_name"] == "from-cddl"
    done = codearts(fake, "pipeline", "list", "--name", "cddl")
    assert [p["pipeline_id"] for p in json.loads(done.stdout)] == [state["pipeline_id"]]
    (tmp_path / "bad.json").write_text('{"flow": {}}')
    done = codearts(fake, "template", "create", "--file", str(tmp_path / "bad.json"))
    assert done.returncode == 1
    assert "the template body needs flow, states and workflow objects (400, POST" in done.stderr
