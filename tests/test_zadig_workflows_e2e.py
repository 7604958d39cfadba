"""Issue 10, point by point: scripts/zadig.py against the strict fake Zadig (as koderover/zadig is), real sockets."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from cirelay.emulators.zadig import REGISTRY, Job, Stage, ZadigFake, make_server
from tests.conftest import github_outputs
from tests.test_zadig_e2e import FAST, RUN, zadig

DETAIL = "/openapi/workflows/custom/deploy-dev/detail"
APPROVE = "/openapi/workflows/custom/task/approve"


@pytest.fixture
def fake() -> Iterator[ZadigFake]:
    server = make_server()
    assert server.strict  # Zadig's rules: a job not in inputs is skipped
    server.start()
    yield server
    threading.Thread(target=server.stop, daemon=True).start()


def sent_inputs(fake: ZadigFake) -> List[Dict[str, Any]]:
    (started,) = fake.seen("POST", RUN)
    return started.json()["inputs"]


def task_jobs(fake: ZadigFake, workflow: str, task_id: int) -> Dict[str, List[str]]:
    task = fake.custom_tasks[(workflow, task_id)]
    return {stage.name: [job["display_name"] for job in jobs] for stage, jobs in task.stages}


def poll_until(fake: ZadigFake, workflow: str, task_id: int, wanted: str) -> Dict[str, Any]:
    """Read the task with `custom get` (each read moves the fake on) until its progress shows `wanted`."""
    for _ in range(12):
        got = zadig(fake, "custom", "get", "-w", workflow, "--id", str(task_id))
        assert got.returncode == 0, got.stderr
        if wanted in got.stdout:
            return json.loads(got.stdout)
    raise AssertionError(f"{workflow} #{task_id} never showed {wanted}")


# -- 1. inputs: run the workflow as configured ------------------------------------------------------


def test_1_custom_run_without_inputs_sends_every_job_as_configured(fake: ZadigFake) -> None:
    done = zadig(fake, "custom", "run", "-p", "demo", "-w", "deploy-dev")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"project_name": "demo", "workflow_name": "deploy-dev", "task_id": 1}
    assert done.stderr.splitlines()[0] == "running jobs of workflow deploy-dev: build, approve, deploy"
    services = [{"service_name": s, "service_module": s, "repo_info": [], "inputs": []} for s in ("api", "web")]
    images = [
        {"service_name": s, "service_module": s, "image_name": f"registry.example.com/shop/{s}:1.4.1"}
        for s in ("api", "web")
    ]
    assert sent_inputs(fake) == [
        {
            "job_name": "build",
            "job_type": "zadig-build",
            "parameters": {"registry": f"{REGISTRY['address']}/{REGISTRY['namespace']}", "service_list": services},
        },
        {"job_name": "approve", "job_type": "approval", "parameters": {}},
        {"job_name": "deploy", "job_type": "zadig-deploy", "parameters": {"env_name": "dev", "service_list": images}},
    ]
    assert len(fake.seen("GET", DETAIL)) == 1 and fake.seen("GET", DETAIL)[0].arg("projectKey") == "demo"
    assert len(fake.seen("GET", "/openapi/system/registry")) == 1
    # Nothing skipped: Zadig made every job task.
    assert task_jobs(fake, "deploy-dev", 1) == {
        "build": ["build-api-api", "build-web-web"],
        "approval": ["approve"],
        "deploy": ["deploy-api", "deploy-web"],
    }


def test_1_job_picks_jobs_and_inputs_merge_over_the_derived_ones(fake: ZadigFake) -> None:
    only = zadig(fake, "custom", "run", "-p", "demo", "-w", "deploy-dev", "--job", "build")
    assert only.returncode == 0, only.stderr
    assert [i["job_name"] for i in sent_inputs(fake)] == ["build"]
    assert task_jobs(fake, "deploy-dev", 1) == {"build": ["build-api-api", "build-web-web"]}

    hotfix = [{"service_name": "api", "service_module": "api", "image_name": "registry.example.com/shop/api:1.4.2"}]
    override = json.dumps([{"job_name": "deploy", "parameters": {"service_list": hotfix}}])
    merged = zadig(fake, "custom", "run", "-p", "demo", "-w", "deploy-dev", "--job", "approve", "--inputs", override)
    assert merged.returncode == 0, merged.stderr
    inputs = fake.seen("POST", RUN)[-1].json()["inputs"]
    assert inputs == [
        {"job_name": "approve", "job_type": "approval", "parameters": {}},
        {"job_name": "deploy", "job_type": "zadig-deploy", "parameters": {"env_name": "dev", "service_list": hotfix}},
    ]
    (_, deploy) = fake.custom_tasks[("deploy-dev", 2)].stages[1]
    assert [job["spec"]["modules"] for job in deploy] == [
        [{"service_module": "api", "image": "registry.example.com/shop/api:1.4.2"}]
    ]


def test_1_a_job_that_cannot_be_derived_is_exit_2_naming_the_input_it_needs(fake: ZadigFake) -> None:
    tests = Job("unit", "zadig-test", {"test_modules": []})
    fake.add_workflow("with-tests", custom=True, stages=[Stage("build", [Job("build-api")]), Stage("test", [tests])])
    done = zadig(fake, "custom", "run", "-p", "demo", "-w", "with-tests")
    assert done.returncode == 2
    assert "job unit (zadig-test) cannot run as configured" in done.stderr
    assert '--inputs \'[{"job_name": "unit", "job_type": "zadig-test", "parameters": {"service_list": []' in done.stderr
    jira = zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-jira")
    assert jira.returncode == 2
    assert "job jira-update is of type jira, which Zadig's OpenAPI cannot run" in jira.stderr
    unknown = zadig(fake, "custom", "run", "-p", "demo", "-w", "with-tests", "--job", "nope")
    assert unknown.returncode == 2
    assert "workflow with-tests has no job 'nope' (its jobs: build-api, unit)" in unknown.stderr
    assert fake.seen("POST", RUN) == []
    # The job picked away, the rest runs.
    assert zadig(fake, "custom", "run", "-p", "demo", "-w", "with-tests", "--job", "build-api").returncode == 0


# -- 2. errors --------------------------------------------------------------------------------------


def test_2_a_500_with_a_zadig_body_shows_its_description_and_is_not_retried(fake: ZadigFake) -> None:
    done = zadig(fake, "custom", "get", "-w", "wf-passed", "--id", "99")
    assert done.returncode == 1
    query = "taskId=99&workflowKey=wf-passed"
    assert done.stderr.splitlines()[-1] == (
        f"Error: Internal Error: mongo: no documents in result (500, GET {fake.url}{RUN}?{query})"
    )
    assert len(fake.seen("GET", RUN)) == 1


def test_2_a_bare_500_is_retried_and_a_400_shows_zadigs_reason(fake: ZadigFake) -> None:
    fake.add_task("wf-passed", ["passed"], custom=True)
    fake.fail_next(2, 500, b"", match=f"GET {RUN}")  # a proxy's 500, no Zadig body
    got = zadig(fake, "custom", "get", "-w", "wf-passed", "--id", "1")
    assert got.returncode == 0, got.stderr
    assert len(fake.seen("GET", RUN)) == 3
    wrong_env = json.dumps([{"job_name": "deploy", "parameters": {"env_name": "prod"}}])
    done = zadig(fake, "custom", "run", "-p", "demo", "-w", "deploy-dev", "--job", "deploy", "--inputs", wrong_env)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"Error: 创建工作流任务失败: env prod not exists (400, POST {fake.url}{RUN})"
    )


# -- 3. statuses --------------------------------------------------------------------------------------


def test_3_skipped_is_the_end_and_not_a_success(fake: ZadigFake) -> None:
    done = zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-skipped", "--wait", "--timeout", "20", *FAST)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["status"] == "skipped"
    assert done.stderr.splitlines()[-1].startswith("Error: Zadig task wf-skipped #1 ended skipped (no job ran) |")


def test_3_waiting_for_approval_or_manual_execution_keeps_waiting_and_says_who(fake: ZadigFake) -> None:
    approval = zadig(fake, "custom", "run", "-p", "demo", "-w", "deploy-dev", "--wait", "--timeout", "4", *FAST)
    assert approval.returncode == 3, approval.stderr
    assert "— waits for approval of job job-1-0-0-approve by cirelay (custom approve)" in approval.stderr
    assert json.loads(approval.stdout)["status"] == "running"
    both = ("--job", "build-api", "--job", "switch-traffic")
    paused = zadig(fake, "custom", "run", "-p", "demo", "-w", "release", *both, "--wait", "--timeout", "4", *FAST)
    assert paused.returncode == 3, paused.stderr
    assert "Zadig task release #1: pause | build: passed [build-api passed] | go-live: pause" in paused.stderr
    assert "— waits for manual execution of stage go-live by cirelay (custom resume)" in paused.stderr


# -- 4. approve ---------------------------------------------------------------------------------------


def test_4_approve_takes_the_waiting_job_task_and_the_task_goes_on(fake: ZadigFake, tmp_path: Path) -> None:
    assert zadig(fake, "custom", "run", "-p", "demo", "-w", "deploy-dev").returncode == 0
    nothing = zadig(fake, "custom", "approve", "-w", "deploy-dev", "--id", "1")
    assert nothing.returncode == 1
    assert "Error: Zadig task deploy-dev #1 has no job waiting for approval (status running)" in nothing.stderr
    poll_until(fake, "deploy-dev", 1, '"wait_for_approval"')
    out = tmp_path / "out"
    done = zadig(
        fake,
        "custom",
        "approve",
        "-w",
        "deploy-dev",
        "--id",
        "1",
        "--comment",
        "ship it",
        env={"GITHUB_OUTPUT": str(out)},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "message": "success", "workflow_key": "deploy-dev", "task_id": 1, "job": "job-1-0-0-approve", "approve": True,
    }  # fmt: skip
    (sent,) = fake.seen("POST", APPROVE)
    assert sent.json() == {
        "workflow_key": "deploy-dev", "task_id": 1, "stage_name": "job-1-0-0-approve", "approve": True,
        "comment": "ship it",
    }  # fmt: skip
    assert github_outputs(out)["task-id"] == "1"
    finished = zadig(fake, "custom", "wait", "-w", "deploy-dev", "--id", "1", *FAST)
    assert finished.returncode == 0, finished.stderr


def test_4_reject_by_job_name_ends_the_task_reject(fake: ZadigFake) -> None:
    assert zadig(fake, "custom", "run", "-p", "demo", "-w", "deploy-dev", "--job", "approve").returncode == 0
    poll_until(fake, "deploy-dev", 1, '"wait_for_approval"')
    done = zadig(fake, "custom", "approve", "-w", "deploy-dev", "--id", "1", "--job", "approve", "--reject")
    assert done.returncode == 0, done.stderr
    assert fake.seen("POST", APPROVE)[0].json()["approve"] is False
    ended = zadig(fake, "custom", "wait", "-w", "deploy-dev", "--id", "1", *FAST)
    assert ended.returncode == 1
    assert json.loads(ended.stdout)["status"] == "reject"


# -- 5. task list -------------------------------------------------------------------------------------


def test_5_list_pages_newest_first_up_to_the_limit(fake: ZadigFake, tmp_path: Path) -> None:
    for _ in range(53):
        fake.add_task("wf-passed", ["passed"], custom=True)
    out = tmp_path / "out"
    done = zadig(
        fake, "custom", "list", "-p", "demo", "-w", "wf-passed", "--limit", "52", env={"GITHUB_OUTPUT": str(out)}
    )
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [t["task_id"] for t in listed] == list(range(53, 1, -1))
    assert {t["status"] for t in listed} == {"passed"}
    pages = [(r.arg("pageNum"), r.arg("pageSize"), r.arg("projectKey")) for r in fake.seen("GET", ".*/wf-passed/tasks")]
    assert pages == [("1", "50", "demo"), ("2", "50", "demo")]
    assert github_outputs(out)["count"] == "52"
    few = zadig(fake, "custom", "list", "-p", "demo", "-w", "wf-failed")
    assert (few.returncode, json.loads(few.stdout)) == (0, [])


# -- 6. job logs --------------------------------------------------------------------------------------


def test_6_logs_of_every_job_in_order_or_of_one(fake: ZadigFake) -> None:
    assert zadig(fake, "custom", "run", "-p", "demo", "-w", "build-and-deploy").returncode == 0
    early = zadig(fake, "custom", "logs", "-w", "build-and-deploy", "--id", "1", "--job", "deploy-dev")
    assert (early.returncode, early.stdout) == (0, "")
    assert "no log for job job-1-0-0-deploy-dev yet (Zadig archives it when the job ends" in early.stderr
    assert zadig(fake, "custom", "wait", "-w", "build-and-deploy", "--id", "1", *FAST).returncode == 0
    every = zadig(fake, "custom", "logs", "-w", "build-and-deploy", "--id", "1")
    assert every.returncode == 0, every.stderr
    assert every.stdout == (
        "==> build-api (job-0-0-0-build-api) <==\n[build-api] passed\n\n"
        "==> build-web (job-0-1-0-build-web) <==\n[build-web] passed\n\n"
        "==> deploy-dev (job-1-0-0-deploy-dev) <==\n[deploy-dev] passed\n"
    )
    one = zadig(fake, "custom", "logs", "-w", "build-and-deploy", "--id", "1", "--job", "deploy-dev")
    assert one.stdout == "[deploy-dev] passed\n"
    logs = [r.path for r in fake.seen("GET", "/openapi/logs/log/v4/workflow/.*")]
    assert logs[-1] == "/openapi/logs/log/v4/workflow/build-and-deploy/1/job-1-0-0-deploy-dev"


# -- 7. manual execution -------------------------------------------------------------------------------


def test_7_resume_runs_the_paused_stage(fake: ZadigFake) -> None:
    both = ("--job", "build-api", "--job", "switch-traffic")
    assert zadig(fake, "custom", "run", "-p", "demo", "-w", "release", *both).returncode == 0
    early = zadig(fake, "custom", "resume", "-w", "release", "--id", "1")
    assert early.returncode == 1
    assert "has no stage waiting for manual execution (status running)" in early.stderr
    poll_until(fake, "release", 1, '"status": "pause"')
    done = zadig(fake, "custom", "resume", "-w", "release", "--id", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stage"] == "go-live"
    (sent,) = fake.seen("POST", "/openapi/workflows/custom/release/task/1/manual-exec")
    assert (sent.arg("projectKey"), sent.json()) == ("demo", {"stage_name": "go-live"})
    assert zadig(fake, "custom", "wait", "-w", "release", "--id", "1", *FAST).returncode == 0


# -- 8. versions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "use"),
    [
        (("task", "create", "-w", "demo-workflow-dev", "-e", "dev", "--image", "a=b"), "use `custom run`"),
        (("task", "get", "-w", "demo-workflow-dev", "--id", "49"), "use `custom get`"),
        (("task", "restart", "-w", "demo-workflow-flaky", "--id", "12"), "use `custom retry`"),
        (("task", "cancel", "-w", "demo-workflow-flaky", "--id", "12"), "use `custom cancel`"),
        (("task", "list", "--commit-id", "9f8e7d6c"), "with `custom list` instead"),
    ],
)
def test_8_a_server_without_the_legacy_backend_names_the_custom_command(fake: ZadigFake, args: tuple, use: str) -> None:
    fake.legacy_removed = True
    done = zadig(fake, *args)
    assert done.returncode == 1
    assert use in done.stderr.splitlines()[-1]
    assert ("v1.18.0" if args[1] == "list" else "v3.4.1") in done.stderr


def test_8_help_gives_the_versions(fake: ZadigFake) -> None:
    custom = " ".join(zadig(fake, "custom", "--help").stdout.split())
    assert "Zadig v1.15 and later" in custom and "manual execution (resume) from v5.0" in custom
    legacy = " ".join(zadig(fake, "task", "--help").stdout.split())
    assert "Zadig up to v3.4.0" in legacy


# -- 9. parameters -------------------------------------------------------------------------------------


def test_9_params_carry_their_type_and_an_unknown_one_is_exit_2(fake: ZadigFake) -> None:
    unknown = zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-passed", "--param", "TAG=1", "--param", "NOPE=x")
    assert unknown.returncode == 2
    assert "workflow wf-passed has no parameter 'NOPE' (its parameters: TAG, IMAGE_TAG, A)" in unknown.stderr
    fake.custom["wf-passed"].params.append({"name": "ENV", "type": "choice", "value": "", "choice_option": ["dev"]})
    choice = zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-passed", "--param", "ENV=prod")
    assert choice.returncode == 2
    assert "parameter ENV takes one of dev, got 'prod'" in choice.stderr
    assert fake.seen("POST", RUN) == []
    done = zadig(fake, "custom", "run", "-p", "demo", "-w", "wf-passed", "--param", "TAG=1", "--param", "ENV=dev")
    assert done.returncode == 0, done.stderr
    assert fake.seen("POST", RUN)[0].json()["parameters"] == [
        {"name": "TAG", "value": "1", "type": "string"},
        {"name": "ENV", "value": "dev", "type": "choice"},
    ]
