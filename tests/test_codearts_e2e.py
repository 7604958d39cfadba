"""scripts/codearts.py run as a CI step would, against the fake CodeArts on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from cirelay.emulators import codearts as fake_codearts
from tests.conftest import SCRIPTS, clean_env, github_outputs, run_script

SECRETS = (
    fake_codearts.SK,
    fake_codearts.PASSWORD,
    fake_codearts.TOKEN,
    fake_codearts.TEMP_SK,
    fake_codearts.SECURITY_TOKEN,
)


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


# IGNORED: exit 1 since issue 11 (nothing ran); it was exit 0 with a warning
@pytest.mark.parametrize(("final", "code"), [("COMPLETED", 0), ("FAILED", 1), ("CANCELED", 1), ("IGNORED", 1)])
def test_wait_exit_code_for_every_terminal_state(fake: fake_codearts.FakeCodeArts, final: str, code: int) -> None:
    pipeline = fake.pipeline_id("release-with-approval")
    fake.set_script(pipeline, ["PAUSED", final])
    run_id = fake.new_run(pipeline)
    done = codearts(fake, "run", "wait", "--pipeline-id", pipeline, "--run-id", run_id, "--poll-max", "1")
    assert done.returncode == code, done.stderr
    assert json.loads(done.stdout)["status"] == final
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"pipeline run {run_id}: PAUSED (waiting for someone")
    assert lines[1].startswith(f"pipeline run {run_id}: {final}: ") or (
        final == "IGNORED" and lines[1].startswith(f"pipeline run {run_id}: IGNORED (ignored by the pipeline's")
    )
    url = json.loads(done.stdout)["detail_url"]
    if code:
        assert lines[-1].startswith(f"Error: pipeline run {run_id} ended {final}")
        assert lines[-1].endswith(f"({url})")


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


# -- issue 11: CodeArts as Huawei's SDK describes it ---------------------------------------------------


def _wait_args(pipeline: str, run_id: str, *extra: str) -> List[str]:
    return ["run", "wait", "--pipeline-id", pipeline, "--run-id", run_id, "--poll-max", "1", *extra]


def test_a_run_the_concurrency_rule_ignores_fails_the_wait(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["RUNNING"])
    fake.new_run(pipeline)  # one run holds the only slot
    fake.set_concurrency(pipeline, 1, "ABORT")  # PipelineConcurrencyMgmt exceed_action ABORT: ignore the next
    done = codearts(fake, "run", "start", "--pipeline-id", pipeline, "--wait", "--poll-max", "1")
    assert done.returncode == 1, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "IGNORED"
    assert done.stderr.splitlines()[-1] == (
        f"Error: pipeline run {run['id']} ended IGNORED (ignored by the pipeline's concurrency rule: nothing ran): "
        f"Test IGNORED ({run['detail_url']})"
    )


def test_a_run_the_concurrency_rule_queues_waits_its_turn(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["RUNNING"])
    fake.new_run(pipeline)
    fake.set_concurrency(pipeline, 1, "QUEUE")
    fake.set_script(pipeline, ["RUNNING", "COMPLETED"])
    done = codearts(fake, "run", "start", "--pipeline-id", pipeline, "--wait", "--poll-max", "1")
    assert done.returncode == 0, done.stderr
    assert [line.split(": ")[1] for line in done.stderr.splitlines()[1:]] == ["QUEUED", "RUNNING", "COMPLETED"]


def test_temporary_credentials_send_their_security_token(fake: fake_codearts.FakeCodeArts) -> None:
    temporary = env_of(
        fake,
        HUAWEICLOUD_SDK_AK=fake_codearts.TEMP_AK,
        HUAWEICLOUD_SDK_SK=fake_codearts.TEMP_SK,
        HUAWEICLOUD_SDK_SECURITY_TOKEN=fake_codearts.SECURITY_TOKEN,
    )
    done = codearts(fake, "pipeline", "list", env=temporary)
    assert done.returncode == 0, done.stderr
    assert fake.auth_failures == []
    sent = fake.seen("POST", r".*/pipelines/list")[0].headers
    assert sent["x-security-token"] == fake_codearts.SECURITY_TOKEN
    assert "x-security-token" in sent["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    del temporary["HUAWEICLOUD_SDK_SECURITY_TOKEN"]
    done = codearts(fake, "pipeline", "list", env=temporary)
    assert done.returncode == 1
    assert "a temporary access key needs its security token (X-Security-Token)" in done.stderr


def test_run_list_times_and_order(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    runs = sorted((r for r in fake.runs.values() if r["pipeline_id"] == pipeline), key=lambda r: r["start_time"])
    first, second = runs[0]["start_time"], runs[1]["start_time"]
    done = codearts(fake, "run", "list", "--pipeline-id", pipeline, "--since", str(first), "--until", str(second))
    assert done.returncode == 0, done.stderr
    assert [r["pipeline_run_id"] for r in json.loads(done.stdout)] == [runs[1]["id"], runs[0]["id"]]  # newest first
    done = codearts(fake, "run", "list", "--pipeline-id", pipeline, "--since", str(second + 1))
    assert json.loads(done.stdout) == []
    body = fake.seen("POST", r".*/pipeline-runs/list")[-1].json()
    assert body["sort_dir"] == "desc"
    assert body["start_time"] == str(second + 1)


def test_logs_skip_jobs_that_did_not_run_and_go_on_past_an_unreadable_one(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.add_pipeline(
        "many-jobs",
        [
            ("Build", [("Compile", ["Make"]), ("Lint", ["Ruff"])]),
            ("Test", [("Unit", ["Pytest"]), ("Docs", ["Sphinx"])]),
        ],
        ["COMPLETED"],
        skipped_jobs=("Docs",),
    )
    fake.log_page_lines = 2  # 6 lines a step: 3 pages each
    unit = fake_codearts.definition_id(pipeline, "Test", "Unit")
    build = fake_codearts.definition_id(pipeline, "Build")
    test = fake_codearts.definition_id(pipeline, "Test")
    done = codearts(
        fake, "run", "start", "--pipeline-id", pipeline, "--stage", build, "--stage", test, "--job", unit,
        "--job", fake_codearts.definition_id(pipeline, "Build", "Compile"),
        "--job", fake_codearts.definition_id(pipeline, "Test", "Docs"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["pipeline_run_id"]
    assert fake.runs[run_id]["body"]["choose_jobs"][0] == unit
    make = fake.runs[run_id]
    detail = json.loads(codearts(fake, "run", "get", "--pipeline-id", pipeline, "--run-id", run_id).stdout)
    statuses = {j["name"]: j["status"] for s in detail["stages"] for j in s["jobs"]}
    assert statuses == {"Compile": "COMPLETED", "Lint": "UNSELECTED", "Unit": "COMPLETED", "Docs": "SKIPPED"}
    compile_job = detail["stages"][0]["jobs"][0]
    fake.fail_next(
        1, 404, {"error_code": "DEVPIPE.00011107", "error_msg": "log gone"}, match=f"/jobs/{compile_job['id']}/"
    )
    done = codearts(fake, "run", "logs", "--pipeline-id", pipeline, "--run-id", run_id)
    assert done.returncode == 1
    assert done.stdout == "===== job: Unit / step: Pytest =====\n" + fake._log_text(make, "Unit", "Pytest")
    assert done.stderr.splitlines() == [
        "===== job: Compile / step: Make ===== could not be read: no log for step "
        f"{compile_job['steps'][0]['id']} of job {compile_job['id']} in run {run_id}: log gone "
        f"(404, POST {fake.url}/v5/{fake_codearts.PROJECT_ID}/api/pipelines/{pipeline}/pipeline-runs/{run_id}"
        f"/jobs/{compile_job['id']}/steps/{compile_job['steps'][0]['id']}/logs)",
        "===== job: Lint / step: Ruff ===== not run (UNSELECTED), no log",
        "===== job: Docs / step: Sphinx ===== not run (SKIPPED), no log",
        "Error: 1 step log(s) could not be read: job: Compile / step: Make",
    ]
    # every line once, in order: 3 pages for Pytest, paged as ShowPipelineLog documents it
    pages = [
        r.json()
        for r in fake.seen("POST", r".*/logs")
        if r.path.endswith(f"/{detail['stages'][1]['jobs'][0]['steps'][0]['id']}/logs")
    ]
    assert (pages[0]["start_offset"], pages[0]["end_offset"]) == (0, 0)
    assert len(pages) == 3


def test_template_wait_times_out_when_no_final_status_comes(fake: fake_codearts.FakeCodeArts, tmp_path: Path) -> None:
    fake.template_script = ["initializing", "processing"]  # ShowInstanceStatusResponse.task_status, never final
    body = {"flow": {"initial": {"final": "always"}}, "states": {}, "workflow": {"name": "slow"}}
    (tmp_path / "cddl.json").write_text(json.dumps(body))
    args = ["--file", str(tmp_path / "cddl.json"), "--wait", "--poll-max", "1", "--timeout", "2"]
    done = codearts(fake, "template", "create", *args)
    assert done.returncode == 3, done.stderr
    task_id = json.loads(done.stdout)["task_id"]
    assert json.loads(done.stdout)["task_status"] == "processing"
    lines = done.stderr.splitlines()
    assert lines[:3] == [
        f"template task {task_id} accepted",
        f"template task {task_id}: initializing",
        f"template task {task_id}: processing",
    ]
    assert lines[-1] == (
        f"Error: gave up waiting for template task {task_id} after 2 s; it may still be running remotely "
        f"({fake.url}/v3/templates/{task_id}/status)"
    )


def test_an_unknown_region_is_exit_2_naming_the_known_ones(fake: fake_codearts.FakeCodeArts) -> None:
    env = {k: v for k, v in env_of(fake).items() if k != "CODEARTS_ENDPOINT"}
    done = codearts(fake, "pipeline", "list", "--region", "xx-nowhere-1", env=env)
    assert done.returncode == 2
    assert "unknown CodeArts region 'xx-nowhere-1': known regions are af-north-1, af-south-1," in done.stderr
    assert "eu-west-101" in done.stderr
    assert fake.requests == []
    done = codearts(fake, "pipeline", "list", "--region", "xx-nowhere-1", env=env_of(fake))  # with an endpoint
    assert done.returncode == 0, done.stderr


def test_retry_a_failed_run_and_wait(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["FAILED"])
    run_id = fake.new_run(pipeline)
    done = codearts(fake, "run", "retry", "--pipeline-id", pipeline, "--run-id", run_id, "--wait", "--poll-max", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "COMPLETED"
    assert json.loads(done.stdout)["id"] == run_id  # the same run went on
    assert done.stderr.splitlines()[0] == f"retrying pipeline run {run_id}"
    assert len(fake.seen("PUT", f".*/pipeline-runs/{run_id}/retry")) == 1
    done = codearts(fake, "run", "retry", "--pipeline-id", pipeline, "--run-id", run_id)
    assert done.returncode == 1
    assert "only a failed or cancelled run can be retried, this one is COMPLETED (400, PUT " in done.stderr


def _run_waiting_for_review(fake: fake_codearts.FakeCodeArts) -> Tuple[str, str]:
    pipeline = fake.pipeline_id("release-with-approval")
    fake.set_script(pipeline, ["RUNNING", "REVIEW", "RUNNING", "COMPLETED"])
    return pipeline, fake.new_run(pipeline)


def test_review_pass_lets_the_run_go_on(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline, run_id = _run_waiting_for_review(fake)
    done = codearts(fake, *_wait_args(pipeline, run_id, "--timeout", "2"))
    assert done.returncode == 3  # a review waits for people, not for time
    assert f"pipeline run {run_id}: PAUSED (waiting for a manual review: Manual review; `run review` passes or" in (
        done.stderr
    )
    done = codearts(fake, "run", "review", "--pipeline-id", pipeline, "--run-id", run_id, "--description", "LGTM")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["decision"], answer["success"]) == ("passed", True)
    sent = fake.seen("POST", r".*/pass")
    assert len(sent) == 1
    assert sent[0].query == {"approval_description": ["LGTM"]}
    done = codearts(fake, *_wait_args(pipeline, run_id))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "COMPLETED"


def test_review_reject_fails_the_run(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline, run_id = _run_waiting_for_review(fake)
    for _ in range(2):  # RUNNING, then the review
        codearts(fake, "run", "get", "--pipeline-id", pipeline, "--run-id", run_id)
    detail = json.loads(codearts(fake, "run", "get", "--pipeline-id", pipeline, "--run-id", run_id).stdout)
    job = detail["stages"][1]["jobs"][0]
    ids = ["--job-run-id", job["id"], "--step-run-id", job["steps"][0]["id"]]
    done = codearts(fake, "run", "review", "--pipeline-id", pipeline, "--run-id", run_id, "--reject", *ids)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decision"] == "refused"
    assert len(fake.seen("POST", r".*/refuse")) == 1
    done = codearts(fake, *_wait_args(pipeline, run_id))
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "FAILED"
    done = codearts(fake, "run", "review", "--pipeline-id", pipeline, "--run-id", run_id)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: run {run_id} of pipeline {pipeline} has no manual review waiting for a decision (run status FAILED)\n"
    )


def test_artifacts_and_step_outputs(fake: fake_codearts.FakeCodeArts, tmp_path: Path) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    fake.set_script(pipeline, ["COMPLETED"])
    run_id = fake.new_run(pipeline)
    env = env_of(fake, GITHUB_OUTPUT=str(tmp_path / "out"))
    done = codearts(fake, "run", "artifacts", "--pipeline-id", pipeline, "--run-id", run_id, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [fake_codearts.ARTIFACT]
    done = codearts(fake, "run", "outputs", "--pipeline-id", pipeline, "--run-id", run_id, env=env)
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    by_step = {o["step_run_id"]: {r["key"]: r["value"] for r in o["output_result"]} for o in outputs}
    maven = fake.runs[run_id]["ids"]["Build/Build image/Maven build"]
    assert by_step[maven] == {"IMAGE_TAG": "1.4.2", "TESTS_PASSED": "312"}
    assert json.loads(github_outputs(tmp_path / "out")["values"]) == {"IMAGE_TAG": "1.4.2", "TESTS_PASSED": "312"}
    query = fake.seen("GET", r".*/steps/outputs")[-1].query["step_run_ids"][0]
    assert len(query.split(",")) == 3  # every step of the run, in one request


def test_pipeline_status_and_start_by_name(fake: fake_codearts.FakeCodeArts) -> None:
    build = fake.pipeline_id("build-and-deploy")
    never = fake.pipeline_id("nightly-tests")
    done = codearts(fake, "pipeline", "status", build, never)
    assert done.returncode == 0, done.stderr
    assert [(r["pipeline_id"], r["status"]) for r in json.loads(done.stdout)] == [(build, "COMPLETED")]
    assert done.stderr == f"pipeline {never}: no run (it never ran, or there is no such pipeline)\n"
    assert fake.seen("POST", r".*/pipelines/status")[0].json() == [build, never]

    done = codearts(fake, "run", "start", "--pipeline", "nightly-tests")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pipeline_id"] == never
    assert done.stderr.splitlines()[0] == f"pipeline 'nightly-tests' is {never}"
    done = codearts(fake, "run", "start", "--pipeline", "nightly")  # a name must match exactly
    assert done.returncode == 2
    assert f"no pipeline is named 'nightly' in project {fake_codearts.PROJECT_ID}" in done.stderr
    twin = fake.add_pipeline("nightly-tests", [("Test", [("API tests", ["Run tests"])])], ["COMPLETED"])
    done = codearts(fake, "run", "start", "--pipeline", "nightly-tests")
    assert done.returncode == 2
    assert f"2 pipelines are named 'nightly-tests' ({never}, {twin}): pass --pipeline-id" in done.stderr
    assert len(fake.seen("POST", r".*/run")) == 1


# -- issue 14 point 2: an IAM token that expires is renewed, as often as it happens ---------------------


def _password_env(fake: fake_codearts.FakeCodeArts) -> Dict[str, str]:
    return {
        "CODEARTS_ENDPOINT": fake.url,
        "CODEARTS_PROJECT_ID": fake_codearts.PROJECT_ID,
        "HUAWEICLOUD_USERNAME": fake_codearts.USERNAME,
        "HUAWEICLOUD_PASSWORD": fake_codearts.PASSWORD,
        "HUAWEICLOUD_DOMAIN": fake_codearts.DOMAIN,
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": fake.url,  # the SDK's name for it
    }


def test_a_token_that_expires_again_and_again_is_renewed_each_time(fake: fake_codearts.FakeCodeArts) -> None:
    fake.token_uses = 1  # every token IAM issues works once, then 401: each later request renews it
    pipeline = fake.pipeline_id("build-and-deploy")
    fake.set_script(pipeline, ["QUEUED", "RUNNING", "RUNNING", "COMPLETED"])
    env = _password_env(fake)
    args = ["run", "start", "--pipeline-id", pipeline, "--branch", "main", "--wait", "--poll-max", "1"]
    done = codearts(fake, *args, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "COMPLETED"
    api = [r for r in fake.requests if r.path.startswith("/v5/")]
    refused = fake.auth_failures.count("expired token")
    assert refused == 5  # the start and the four polls: the token expired five times in one run
    assert len(api) == 1 + 1 + 4 + refused  # the pipeline read, the start, the polls, and each refused one again
    assert len(fake.seen("POST", "/v3/auth/tokens")) == refused + 1
    assert done.stderr.count("the IAM token is no longer accepted (HTTP 401): signing in again") == refused
    assert len(fake.seen("POST", r".*/run")) == 2  # the refused start was sent again: it had created nothing
    assert len([r for r in fake.runs.values() if r["pipeline_id"] == pipeline]) == 3  # 2 of history + this one


def test_a_token_refused_on_first_use_is_a_credentials_error(fake: fake_codearts.FakeCodeArts) -> None:
    fake.token_uses = 0
    done = codearts(fake, "pipeline", "list", env=_password_env(fake))
    assert done.returncode == 1
    assert done.stderr == (
        "Error: CodeArts refused the token IAM had just issued (HTTP 401): check the user's permissions: "
        f"The token must be updated. (401, POST {fake.url}/v5/{fake_codearts.PROJECT_ID}/api/pipelines/list)\n"
    )
    assert len(fake.seen("POST", "/v3/auth/tokens")) == 1


# -- native to each CI ------------------------------------------------------------------------------


def test_github_summary_links_the_run_and_tables_its_stages_and_jobs(
    fake: fake_codearts.FakeCodeArts, tmp_path: Path
) -> None:
    from markdown_it import MarkdownIt

    pipeline = fake.pipeline_id("build-and-deploy")
    fake.set_script(pipeline, ["RUNNING", "COMPLETED"])
    summary = tmp_path / "summary.md"
    env = env_of(fake, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(tmp_path / "out"))
    done = codearts(fake, "run", "start", "--pipeline-id", pipeline, "--wait", "--poll-max", "1", env=env)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    html = MarkdownIt("commonmark").enable("table").render(summary.read_text(encoding="utf-8"))
    assert html.startswith("<h3>✅ CodeArts build-and-deploy: run ")
    url = github_outputs(tmp_path / "out")["url"]
    assert f'<a href="{url}">open the run in CodeArts</a>' in html
    assert "<th>stage</th>\n<th>job</th>\n<th>status</th>\n<th>duration</th>" in html
    jobs = [(s["name"], j["name"]) for s in run["stages"] for j in s["jobs"]]
    for stage, job in jobs:
        assert f"<td>{stage}</td>\n<td>{job}</td>\n<td>✅ COMPLETED</td>\n<td>30s</td>" in html


def test_circleci_prints_the_stage_table_once_more_at_the_end(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    fake.set_script(pipeline, ["COMPLETED"])
    run_id = fake.new_run(pipeline)
    done = codearts(
        fake, "run", "wait", "--pipeline-id", pipeline, "--run-id", run_id, env=env_of(fake, CIRCLECI="true")
    )
    assert done.returncode == 0, done.stderr
    table = done.stderr.splitlines()[-4:]
    assert table[0].split() == ["stage", "job", "status", "duration"]
    assert set(table[1]) <= {"-", " "}
    assert table[2].split()[-2:] == ["COMPLETED", "30s"] and table[3].split()[-2:] == ["COMPLETED", "30s"]


def test_github_folds_each_step_log(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    fake.set_script(pipeline, ["COMPLETED"])
    run_id = fake.new_run(pipeline)
    done = codearts(
        fake, "run", "logs", "--pipeline-id", pipeline, "--run-id", run_id, env=env_of(fake, GITHUB_ACTIONS="true")
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    groups = [line for line in lines if line.startswith("::group::")]
    assert groups == [
        "::group::job: Build image / step: Checkout",
        "::group::job: Build image / step: Maven build",
        "::group::job: Deploy to CCE / step: Helm upgrade",
    ]
    assert lines.count("::endgroup::") == 3
    assert lines[-1] == "::endgroup::"
