"""scripts/zadig.py as a CI step runs it: a subprocess against the fake Zadig over real sockets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, Iterator

import pytest

from cirelay.emulators.zadig import FAKE_TOKEN, SEED_COMMIT, TERMINAL, ZadigFake, env_for, make_server
from tests.conftest import SCRIPTS, clean_env, github_outputs, run_script

CREATE = "/api/directory/workflowTask/create"
RUN = "/openapi/workflows/custom/task"
FAST = ("--poll-max", "1")  # 1 s between polls keeps a whole task to a second or two per step


@pytest.fixture
def fake() -> Iterator[ZadigFake]:
    server = make_server()
    server.start()
    yield server
    # stop() waits out serve_forever's 0.5 s poll; let it finish in the background instead.
    threading.Thread(target=server.stop, daemon=True).start()


def zadig(fake: ZadigFake, *args: str, env: Dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = run_script("zadig", *args, env={**env_for(fake.url), **(env or {})}, timeout=60)
    assert FAKE_TOKEN not in done.stdout + done.stderr
    return done


# -- whole tasks ----------------------------------------------------------------------------------


def test_legacy_create_waits_through_a_whole_task(fake: ZadigFake, tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    done = zadig(
        fake, "task", "create", "-w", "demo-workflow-dev", "-e", "dev",
        "--image", "api=registry.example/api:1.4.2", "--build", "web:web@main", "--build", "web:assets@main#12",
        "--wait", *FAST, env={"GITHUB_OUTPUT": str(out)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["status"] == "passed"
    assert final["targets"] == [
        {
            "name": "web",
            "service_type": "k8s",
            "build": {
                "repos": [
                    {"repo_name": "web", "branch": "main", "pr": 0},
                    {"repo_name": "assets", "branch": "main", "pr": 12},
                ]
            },
        }
    ]
    url = f"{fake.url}/v1/projects/detail/demo/pipelines/multi/demo-workflow-dev/50"
    assert done.stderr.splitlines() == [
        f"started task 50 of workflow demo-workflow-dev: {url}",
        "Zadig task demo-workflow-dev #50: created",
        "Zadig task demo-workflow-dev #50: running",
        "Zadig task demo-workflow-dev #50: passed",
    ]
    assert len(fake.seen("POST", CREATE)) == 1
    assert len(fake.seen("GET", "/api/directory/workflowTask/id/50/pipelines/demo-workflow-dev")) == 3
    values = github_outputs(out)
    assert (values["task-id"], values["status"], values["url"]) == ("50", "passed", url)


def test_custom_run_waits_through_a_whole_task_with_stages(fake: ZadigFake) -> None:
    done = zadig(fake, "custom", "run", "-p", "demo", "-w", "build-and-deploy", "--param", "TAG=1.4.2", "--wait", *FAST)
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["status"] == "passed"
    # The task carries the workflow's parameters with the values given (task_v4.go:2567, openapi.go:110-150).
    assert {p["name"]: p["value"] for p in final["params"]} == {"TAG": "1.4.2", "IMAGE_TAG": "", "A": ""}
    lines = done.stderr.splitlines()
    assert lines[0] == "running jobs of workflow build-and-deploy: build-api, build-web, deploy-dev"
    progress = lines[2:]
    assert progress == [
        "Zadig task build-and-deploy #1: created | build: pending [build-api pending, build-web pending]"
        " | deploy: pending [deploy-dev pending]",
        "Zadig task build-and-deploy #1: running | build: running [build-api running, build-web running]"
        " | deploy: pending [deploy-dev pending]",
        "Zadig task build-and-deploy #1: running | build: passed [build-api passed, build-web passed]"
        " | deploy: running [deploy-dev running]",
        "Zadig task build-and-deploy #1: passed | build: passed [build-api passed, build-web passed]"
        " | deploy: passed [deploy-dev passed]",
    ]


def test_a_missing_status_means_not_finished(fake: ZadigFake) -> None:
    done = zadig(fake, "task", "create", "-w", "wf-nostatus", "-e", "dev", "--image", "a=b", "--wait", *FAST)
    assert done.returncode == 0, done.stderr
    assert "Zadig task wf-nostatus #1: no status yet" in done.stderr
    assert json.loads(done.stdout)["status"] == "passed"


# -- exit codes of --wait -------------------------------------------------------------------------


@pytest.mark.parametrize("status", TERMINAL)
def test_wait_exit_code_for_every_terminal_state(fake: ZadigFake, status: str) -> None:
    expected = 0 if status == "passed" else 1
    fake.add_workflow(f"ends-{status}", [status])
    fake.add_workflow(f"ends-{status}", [status], custom=True)
    legacy = zadig(fake, "task", "create", "-w", f"ends-{status}", "-e", "dev", "--image", "a=b", "--wait")
    custom = zadig(fake, "custom", "run", "-p", "demo", "-w", f"ends-{status}", "--wait")
    for done, kind in ((legacy, "multi"), (custom, "custom")):
        assert done.returncode == expected, done.stderr
        assert json.loads(done.stdout)["status"] == status
        if expected:
            url = f"{fake.url}/v1/projects/detail/demo/pipelines/{kind}/ends-{status}/1"
            assert done.stderr.splitlines()[-1].startswith(f"Error: Zadig task ends-{status} #1 ended {status}")
            assert done.stderr.splitlines()[-1].endswith(f"({url})")


def test_wait_timeout_exit_3_leaves_the_task_running(fake: ZadigFake, tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    done = zadig(
        fake, "task", "create", "-w", "wf-forever", "-e", "dev", "--image", "a=b", "--wait", "--timeout", "1", *FAST,
        env={"GITHUB_OUTPUT": str(out)},
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["status"] == "running"
    url = f"{fake.url}/v1/projects/detail/demo/pipelines/multi/wf-forever/1"
    assert done.stderr.splitlines()[-1] == (
        f"Error: gave up waiting for Zadig task wf-forever #1 after 1 s; it may still be running remotely ({url})"
    )
    assert fake.seen("POST", r".*/cancel") == []
    assert github_outputs(out)["status"] == "running"


def test_cancel_on_timeout_reaches_the_fake(fake: ZadigFake) -> None:
    wait = ("--wait", "--timeout", "1", "--cancel-on-timeout", *FAST)
    legacy = zadig(fake, "task", "create", "-w", "wf-forever", "-e", "dev", "--image", "a=b", *wait)
    custom = zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-forever", *wait)
    for done in (legacy, custom):
        assert done.returncode == 3, done.stderr
        assert "cancelling Zadig task wf-forever #1" in done.stderr
        assert json.loads(done.stdout)["status"] == "cancelled"  # the task as the cancel left it
    assert len(fake.seen("POST", "/api/directory/workflowTask/id/1/pipelines/wf-forever/cancel")) == 1
    assert len(fake.seen("DELETE", RUN)) == 1
    assert fake.legacy_tasks[("wf-forever", 1)].statuses == ["cancelled"]
    assert fake.custom_tasks[("wf-forever", 1)].statuses == ["cancelled"]


def start_waiting(fake: ZadigFake, *args: str) -> subprocess.Popen:
    """Start a waiting script and return once it has shown its first progress line."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "zadig.py"), *args],
        env=clean_env(env_for(fake.url)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if ": running" in line:
            break
    return proc


@pytest.mark.parametrize("cancel", [True, False])
def test_sigterm_while_waiting_exits_130(fake: ZadigFake, cancel: bool) -> None:
    flag = "--cancel-on-timeout" if cancel else "--no-cancel-on-timeout"
    proc = start_waiting(fake, "custom", "run", "-p", "demo", "-w", "wf-forever", "--wait", flag)
    try:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.splitlines()[-1] == "Interrupted."
    # A stopped wait still gives its account: the task as last seen (read again after the cancel).
    task = json.loads(stdout)
    assert (task["task_id"], task["status"]) == (1, "cancelled" if cancel else "running")
    assert len(fake.seen("DELETE", RUN)) == (1 if cancel else 0)


# -- POSTs that start something are sent once -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "method", "path"),
    [
        (("task", "create", "-w", "demo-workflow-dev", "-e", "dev", "--image", "a=b", "--wait"), "POST", CREATE),
        (("custom", "run", "-p", "demo", "-w", "build-and-deploy", "--wait"), "POST", RUN),
        (
            ("task", "restart", "-w", "demo-workflow-flaky", "--id", "12"),
            "POST",
            "/api/directory/workflowTask/id/12/pipelines/demo-workflow-flaky/restart",
        ),
    ],
)
def test_a_start_post_is_sent_once_on_503(fake: ZadigFake, args: tuple, method: str, path: str) -> None:
    busy = {"type": "error", "code": 503, "message": "服务不可用", "description": "busy"}
    fake.fail_next(3, 503, busy, match=f"^{method} {path}$")  # custom run reads the workflow first: not that
    done = zadig(fake, *args)
    assert done.returncode == 1
    assert len(fake.seen(method, path)) == 1
    assert done.stderr.splitlines()[-1] == f"Error: 服务不可用: busy (503, {method} {fake.url}{path})"
    assert fake.legacy_tasks.keys() == {("demo-workflow-dev", 49), ("demo-workflow-flaky", 12)}
    assert fake.custom_tasks == {}


def test_a_custom_retry_post_is_sent_once_on_503(fake: ZadigFake) -> None:
    fake.add_task("nightly-e2e", ["failed"], custom=True)
    fake.fail_next(1, 503, b"", match="POST /openapi/workflows/custom/nightly-e2e/task/1")
    done = zadig(fake, "custom", "retry", "-p", "demo", "-w", "nightly-e2e", "--id", "1", "--wait")
    assert done.returncode == 1
    assert len(fake.seen("POST", "/openapi/workflows/custom/nightly-e2e/task/1")) == 1
    assert fake.custom_tasks[("nightly-e2e", 1)].is_restart is False


def test_polls_are_retried_through_503_and_dropped_connections(fake: ZadigFake) -> None:
    fake.fail_next(1, 503, b"", match="GET /openapi/workflows/custom/task")
    fake.drop_next(1, match="GET /openapi/workflows/custom/task")
    fake.add_workflow("quick", ["passed"], custom=True)
    done = zadig(fake, "custom", "run", "-p", "demo", "-w", "quick", "--wait")
    assert done.returncode == 0, done.stderr
    assert len(fake.seen("GET", RUN)) == 3


# -- every command from the command line ----------------------------------------------------------


def test_legacy_commands_end_to_end(fake: ZadigFake) -> None:
    listed = zadig(fake, "task", "list", "--commit-id", SEED_COMMIT[:8])
    assert listed.returncode == 0, listed.stderr
    assert [(t["task_id"], t["status"]) for t in json.loads(listed.stdout)] == [(49, "passed"), (12, "failed")]

    started = zadig(fake, "task", "create", "-w", "demo-workflow-flaky", "-e", "dev", "--image", "a=b")
    assert started.returncode == 0, started.stderr
    task_id = str(json.loads(started.stdout)["task_id"])
    failed = zadig(fake, "task", "wait", "-w", "demo-workflow-flaky", "--id", task_id, *FAST)
    assert failed.returncode == 1
    assert "ended failed" in failed.stderr

    restarted = zadig(fake, "task", "restart", "-w", "demo-workflow-flaky", "--id", task_id, "--wait", *FAST)
    assert restarted.returncode == 0, restarted.stderr
    got = zadig(fake, "task", "get", "-w", "demo-workflow-flaky", "--id", task_id)
    assert (got.returncode, json.loads(got.stdout)["status"]) == (0, "passed")

    again = zadig(fake, "task", "restart", "-w", "demo-workflow-flaky", "--id", task_id)
    assert again.returncode == 1
    assert again.stderr.splitlines()[-1] == (
        f"Error: Zadig could not restart task {task_id} of workflow demo-workflow-flaky: fail (resultCode 400)"
    )

    forever = zadig(fake, "task", "create", "-w", "wf-forever", "-e", "dev", "--image", "a=b")
    cancelled = zadig(fake, "task", "cancel", "-w", "wf-forever", "--id", str(json.loads(forever.stdout)["task_id"]))
    assert (cancelled.returncode, json.loads(cancelled.stdout)) == (0, {"resultCode": 0, "errorMsg": "success"})
    got = zadig(fake, "task", "get", "-w", "wf-forever", "--id", "1")
    assert json.loads(got.stdout)["status"] == "cancelled"


def test_custom_commands_end_to_end(fake: ZadigFake) -> None:
    started = zadig(fake, "custom", "run", "-p", "demo", "-w", "nightly-e2e", "--inputs", "[]")
    assert started.returncode == 0, started.stderr
    task_id = str(json.loads(started.stdout)["task_id"])
    failed = zadig(fake, "custom", "wait", "-w", "nightly-e2e", "--id", task_id, *FAST)
    assert failed.returncode == 1
    retried = zadig(fake, "custom", "retry", "-p", "demo", "-w", "nightly-e2e", "--id", task_id, "--wait", *FAST)
    assert retried.returncode == 0, retried.stderr
    got = zadig(fake, "custom", "get", "-w", "nightly-e2e", "--id", task_id)
    assert (got.returncode, json.loads(got.stdout)["is_restart"]) == (0, True)

    forever = zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-forever")
    cancelled = zadig(fake, "custom", "cancel", "-w", "wf-forever", "--id", str(json.loads(forever.stdout)["task_id"]))
    assert (cancelled.returncode, json.loads(cancelled.stdout)) == (0, {"message": "success"})
    # Zadig refuses to cancel only a passed task (workflowcontroller/workflow.go:119-122).
    fake.add_task("wf-passed", ["passed"], custom=True)
    again = zadig(fake, "custom", "cancel", "-w", "wf-passed", "--id", "1")
    assert again.returncode == 1
    assert "Error: 取消工作流任务失败: task: wf-passed:1 is passed, cannot cancel (400, DELETE" in again.stderr


def test_answer_without_task_id_and_wait(fake: ZadigFake) -> None:
    fake.abbreviated_create = True
    done = zadig(fake, "task", "create", "-w", "demo-workflow-dev", "-e", "dev", "--image", "a=b", "--wait")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"message": "success"}
    assert "names no task_id" in done.stderr


# -- credentials ----------------------------------------------------------------------------------


def test_wrong_token_and_forbidden_workflow(fake: ZadigFake) -> None:
    wrong = zadig(fake, "task", "get", "-w", "demo-workflow-dev", "--id", "49", env={"ZADIG_TOKEN": "not-it"})
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines()[-1].startswith(
        "Error: Zadig did not accept the token (HTTP 401): check ZADIG_TOKEN"
    )
    forbidden = zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-forbidden")
    assert forbidden.returncode == 1
    assert "Zadig refused access (HTTP 403)" in forbidden.stderr
    assert (
        fake.seen("GET", "/api/directory/workflowTask/id/49/pipelines/demo-workflow-dev")[0].headers["authorization"]
        == "Bearer not-it"
    )


def test_no_token_anywhere_in_output(fake: ZadigFake, tmp_path: Path) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary"
    env = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"}
    runs = [
        zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-failed", "--wait", *FAST, env=env),
        zadig(fake, "custom", "run", "-p", "demo", "-w", "nope", env=env),
        zadig(fake, "task", "list", "--commit-id", SEED_COMMIT, env=env),
        zadig(fake, "--help"),
    ]
    assert [r.returncode for r in runs] == [1, 1, 0, 0]
    for done in runs:
        assert FAKE_TOKEN not in done.stdout + done.stderr
    assert FAKE_TOKEN not in out.read_text() + summary.read_text()


# -- native to each CI ------------------------------------------------------------------------------


def test_github_summary_links_the_task_and_tables_its_stages(fake: ZadigFake, tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(tmp_path / "out")}
    done = zadig(fake, "custom", "run", "-p", "demo", "-w", "build-and-deploy", "--wait", *FAST, env=env)
    assert done.returncode == 0, done.stderr
    html = MarkdownIt("commonmark").enable("table").render(summary.read_text(encoding="utf-8"))
    url = github_outputs(tmp_path / "out")["url"]
    assert html.startswith("<h3>✅ Zadig build-and-deploy #1</h3>")
    assert f'<a href="{url}">open the task in Zadig</a>' in html
    assert "<th>stage</th>\n<th>job</th>\n<th>status</th>\n<th>duration</th>" in html
    for stage, job in (("build", "build-api"), ("build", "build-web"), ("deploy", "deploy-dev")):
        assert f"<td>{stage}</td>\n<td>{job}</td>\n<td>✅ passed</td>\n<td>29s</td>" in html


def test_circleci_prints_the_stage_table_at_the_end_of_a_wait(fake: ZadigFake) -> None:
    done = zadig(
        fake, "custom", "run", "-p", "demo", "-w", "build-and-deploy", "--wait", *FAST, env={"CIRCLECI": "true"}
    )
    assert done.returncode == 0, done.stderr
    table = done.stderr.splitlines()[-5:]
    assert table[0].split() == ["stage", "job", "status", "duration"]
    assert [row.split() for row in table[2:]] == [
        ["build", "build-api", "passed", "29s"],
        ["build", "build-web", "passed", "29s"],
        ["deploy", "deploy-dev", "passed", "29s"],
    ]
