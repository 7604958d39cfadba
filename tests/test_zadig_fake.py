"""The fake Zadig itself, over real sockets: each rule it takes from koderover/zadig (cited in the emulator).

The client tests lean on these rules; if the fake grew kinder than Zadig, these would fail first.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

from cirelay.emulators.zadig import FAKE_TOKEN, REGISTRY, ZadigFake, make_server

HEADERS = {"Authorization": f"Bearer {FAKE_TOKEN}"}
CUSTOM = "/openapi/workflows/custom"
BUILD_INPUT = {
    "job_name": "build",
    "job_type": "zadig-build",
    "parameters": {
        "registry": f"{REGISTRY['address']}/{REGISTRY['namespace']}",
        "service_list": [{"service_name": "api", "service_module": "api", "repo_info": [], "inputs": []}],
    },
}
DEPLOY_INPUT = {
    "job_name": "deploy",
    "job_type": "zadig-deploy",
    "parameters": {
        "env_name": "dev",
        "service_list": [{"service_name": "api", "service_module": "api", "image_name": "reg/api:2"}],
    },
}
APPROVE_INPUT = {"job_name": "approve", "job_type": "approval", "parameters": {}}


@pytest.fixture
def fake() -> Iterator[ZadigFake]:
    server = make_server()
    server.start()
    yield server
    threading.Thread(target=server.stop, daemon=True).start()


def call(fake: ZadigFake, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, fake.url + path, headers=HEADERS, timeout=10, **kwargs)


def run(fake: ZadigFake, workflow: str, inputs: List[Any], params: Optional[List[Any]] = None) -> requests.Response:
    body = {"project_key": "demo", "workflow_key": workflow, "parameters": params or [], "inputs": inputs}
    return call(fake, "POST", f"{CUSTOM}/task", json=body)


def get(fake: ZadigFake, workflow: str, task_id: int) -> Dict[str, Any]:
    answer = call(fake, "GET", f"{CUSTOM}/task", params={"taskId": str(task_id), "workflowKey": workflow})
    assert answer.status_code == 200, answer.text
    return answer.json()


def jobs_of(task: Dict[str, Any]) -> Dict[str, List[str]]:
    return {stage["name"]: [job["display_name"] for job in stage["jobs"]] for stage in task["stages"]}


def zadig_error(code: int, message: str, description: str) -> Dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "description": description, "extra": {}}


def test_empty_inputs_skip_every_job_so_the_start_is_400_6160_and_uses_up_an_id(fake: ZadigFake) -> None:
    refused = run(fake, "build-and-deploy", [])
    assert (refused.status_code, refused.json()) == (
        400,
        zadig_error(6160, "创建工作流任务失败", "no stage found in workflow task: build-and-deploy,taskID: 1"),
    )
    assert fake.custom_tasks == {}
    started = run(fake, "build-and-deploy", [{"job_name": "deploy-dev", "job_type": "ignored", "parameters": {}}])
    assert started.json() == {"project_name": "demo", "workflow_name": "build-and-deploy", "task_id": 2}
    # Only the job named ran; the build stage, left empty, is dropped.
    assert jobs_of(get(fake, "build-and-deploy", 2)) == {"deploy": ["deploy-dev"]}


def test_the_kind_mode_runs_every_job_on_empty_inputs(fake: ZadigFake) -> None:
    fake.strict = False
    assert run(fake, "build-and-deploy", []).status_code == 200
    assert jobs_of(get(fake, "build-and-deploy", 1)) == {"build": ["build-api", "build-web"], "deploy": ["deploy-dev"]}


def test_build_input_needs_a_known_registry_and_runs_only_the_services_named(fake: ZadigFake) -> None:
    wrong = dict(BUILD_INPUT, parameters=dict(BUILD_INPUT["parameters"], registry="registry.example.com/shop"))
    refused = run(fake, "deploy-dev", [wrong])
    assert (refused.status_code, refused.json()) == (
        500,
        {
            "message": "Internal Error: ",
            "code": 500,
            "description": "failed to update jobspec for job: build, err: didn't find the specified image registry",
        },
    )
    assert run(fake, "deploy-dev", [BUILD_INPUT]).status_code == 200
    task = get(fake, "deploy-dev", 2)
    assert jobs_of(task) == {"build": ["build-api-api"]}
    assert task["stages"][0]["jobs"][0]["name"] == "job-0-0-0-build"


def test_deploy_input_needs_a_known_env_and_images(fake: ZadigFake) -> None:
    no_env = dict(DEPLOY_INPUT, parameters=dict(DEPLOY_INPUT["parameters"], env_name=""))
    refused = run(fake, "deploy-dev", [no_env])
    assert refused.status_code == 400 and refused.json()["code"] == 6160
    no_image = dict(DEPLOY_INPUT, parameters={"env_name": "dev", "service_list": [{"service_name": "api"}]})
    assert run(fake, "deploy-dev", [no_image]).json()["code"] == 6160
    assert run(fake, "deploy-dev", [DEPLOY_INPUT]).status_code == 200
    (deploy,) = fake.custom_tasks[("deploy-dev", 3)].stages
    assert deploy[1][0]["spec"]["modules"] == [{"service_module": "api", "image": "reg/api:2"}]


def test_unknown_job_type_unknown_parameter_and_bad_choice_are_500(fake: ZadigFake) -> None:
    jira = run(fake, "wf-jira", [{"job_name": "jira-update", "job_type": "jira", "parameters": {}}])
    assert (jira.status_code, jira.json()["description"]) == (500, "undefined job type of type:jira")
    unknown = run(fake, "wf-passed", [{"job_name": "build-api", "parameters": {}}], [{"name": "NOPE", "value": "1"}])
    assert (unknown.status_code, unknown.json()["description"]) == (500, "param NOPE not found in workflow")
    fake.custom["wf-passed"].params.append({"name": "ENV", "type": "choice", "value": "", "choice_option": ["a"]})
    bad = run(fake, "wf-passed", [{"job_name": "build-api", "parameters": {}}], [{"name": "ENV", "value": "b"}])
    assert (bad.status_code, bad.json()["description"]) == (500, "invalid choice value b for param ENV")


def test_a_force_run_job_cannot_be_skipped(fake: ZadigFake) -> None:
    fake.custom["wf-passed"].stages[1].jobs[0].run_policy = "force_run"
    refused = run(fake, "wf-passed", [{"job_name": "build-api", "parameters": {}}])
    assert refused.json()["description"] == "job deploy-dev skipped, but the run policy is set to force run"


def test_detail_and_registry_list(fake: ZadigFake) -> None:
    missing = call(fake, "GET", f"{CUSTOM}/deploy-dev/detail")
    assert (missing.status_code, missing.json()) == (400, zadig_error(400, "Bad Request", "projectKey is required"))
    nope = call(fake, "GET", f"{CUSTOM}/nope/detail", params={"projectKey": "demo"})
    assert (nope.status_code, nope.json()["description"]) == (500, "mongo: no documents in result")
    detail = call(fake, "GET", f"{CUSTOM}/deploy-dev/detail", params={"projectKey": "demo"}).json()
    assert detail["workflow_key"] == "deploy-dev" and detail["project_key"] == "demo"
    assert [(s["name"], [(j["name"], j["type"]) for j in s["jobs"]]) for s in detail["stages"]] == [
        ("build", [("build", "zadig-build")]),
        ("approval", [("approve", "approval")]),
        ("deploy", [("deploy", "zadig-deploy")]),
    ]
    assert detail["stages"][0]["jobs"][0]["spec"]["docker_registry_id"] == REGISTRY["registry_id"]
    assert [p["name"] for p in detail["params"]] == ["TAG", "IMAGE_TAG", "A"]
    assert call(fake, "GET", "/openapi/system/registry").json() == [REGISTRY]


def drive(fake: ZadigFake, workflow: str, task_id: int, polls: int) -> Dict[str, Any]:
    for _ in range(polls):
        task = get(fake, workflow, task_id)
    return task


def test_approval_waits_and_stage_name_carries_the_job_task_name(fake: ZadigFake) -> None:
    assert run(fake, "deploy-dev", [BUILD_INPUT, APPROVE_INPUT, DEPLOY_INPUT]).status_code == 200
    waiting = drive(fake, "deploy-dev", 1, 6)
    assert waiting["status"] == "running"
    job = waiting["stages"][1]["jobs"][0]
    assert (job["name"], job["status"]) == ("job-1-0-0-approve", "wait_for_approval")
    assert job["spec"]["native_approval"]["approve_users"][0]["user_name"] == "cirelay"
    approve = {"workflow_key": "deploy-dev", "task_id": 1, "approve": True, "comment": "ok"}
    by_job_name = call(fake, "POST", f"{CUSTOM}/task/approve", json=dict(approve, stage_name="approve"))
    assert (by_job_name.status_code, by_job_name.json()) == (
        400,
        zadig_error(6169, "批准工作流任务失败", "not found approval"),
    )
    done = call(fake, "POST", f"{CUSTOM}/task/approve", json=dict(approve, stage_name="job-1-0-0-approve"))
    assert (done.status_code, done.json()) == (200, {"message": "success"})
    assert drive(fake, "deploy-dev", 1, 4)["status"] == "passed"


def test_a_rejected_approval_ends_the_task_reject(fake: ZadigFake) -> None:
    run(fake, "deploy-dev", [APPROVE_INPUT])
    assert drive(fake, "deploy-dev", 1, 2)["stages"][0]["jobs"][0]["status"] == "wait_for_approval"
    body = {"workflow_key": "deploy-dev", "task_id": 1, "stage_name": "job-1-0-0-approve", "approve": False}
    assert call(fake, "POST", f"{CUSTOM}/task/approve", json=body).status_code == 200
    assert get(fake, "deploy-dev", 1)["status"] == "reject"


def test_manual_exec_resumes_a_paused_stage(fake: ZadigFake) -> None:
    both = [{"job_name": "build-api", "parameters": {}}, {"job_name": "switch-traffic", "parameters": {}}]
    run(fake, "release", both)
    paused = drive(fake, "release", 1, 3)
    assert paused["status"] == "pause"
    assert [(s["name"], s["status"]) for s in paused["stages"]] == [("build", "passed"), ("go-live", "pause")]
    path = f"{CUSTOM}/release/task/1/manual-exec"
    no_stage = call(fake, "POST", path, params={"projectKey": "demo"}, json={})
    assert (no_stage.status_code, no_stage.json()["description"]) == (400, "stage_name is required")
    wrong = call(fake, "POST", path, params={"projectKey": "demo"}, json={"stage_name": "build"})
    assert (wrong.status_code, wrong.json()["description"]) == (500, "stage build is not waiting for manual execution")
    done = call(fake, "POST", path, params={"projectKey": "demo"}, json={"stage_name": "go-live"})
    assert (done.status_code, done.json()) == (200, {"message": "success"})
    assert drive(fake, "release", 1, 2)["status"] == "passed"
    again = call(fake, "POST", path, params={"projectKey": "demo"}, json={"stage_name": "go-live"})
    assert (again.status_code, again.json()["description"]) == (500, "工作流任务状态无法手动执行")


def test_task_list_pages_newest_first(fake: ZadigFake) -> None:
    for _ in range(3):
        fake.add_task("wf-passed", ["passed"], custom=True)
    query = {"projectKey": "demo", "pageNum": "1", "pageSize": "2"}
    first = call(fake, "GET", f"{CUSTOM}/wf-passed/tasks", params=query).json()
    assert first["total"] == 3
    assert [t["task_id"] for t in first["workflow_tasks"]] == [3, 2]
    second = call(fake, "GET", f"{CUSTOM}/wf-passed/tasks", params=dict(query, pageNum="2")).json()
    assert [t["task_id"] for t in second["workflow_tasks"]] == [1]
    assert set(second["workflow_tasks"][0]) == {
        "workflow_key", "workflow_name", "project_key", "task_id", "create_time", "task_creator", "start_time",
        "end_time", "status",
    }  # fmt: skip


def test_job_logs_are_plain_text_and_empty_until_archived(fake: ZadigFake) -> None:
    fake.add_task("wf-passed", ["running", "passed"], custom=True)
    path = "/openapi/logs/log/v4/workflow/wf-passed/1/job-0-0-0-build-api"
    assert get(fake, "wf-passed", 1)["status"] == "running"
    before = call(fake, "GET", path)
    assert (before.status_code, before.text) == (200, "")
    assert get(fake, "wf-passed", 1)["status"] == "passed"
    after = call(fake, "GET", path)
    assert after.headers["Content-Type"].startswith("text/plain")
    assert after.text == "[build-api] passed\n"


def test_custom_task_errors_and_status_codes(fake: ZadigFake) -> None:
    missing = call(fake, "GET", f"{CUSTOM}/task", params={"taskId": "9", "workflowKey": "wf-passed"})
    assert (missing.status_code, missing.json()) == (
        500,
        {"message": "Internal Error: ", "code": 500, "description": "mongo: no documents in result"},
    )
    fake.add_task("wf-forever", ["running"], custom=True)
    retry = call(fake, "POST", f"{CUSTOM}/wf-forever/task/1", params={"projectKey": "demo"})
    assert (retry.status_code, retry.json()["description"]) == (500, "工作流任务状态无法重试")
    nope = run(fake, "nope", [])
    assert (nope.status_code, nope.json()) == (
        400,
        zadig_error(6542, "查询workflow失败", "mongo: no documents in result"),
    )


def test_legacy_backend_removed(fake: ZadigFake) -> None:
    fake.legacy_removed = True
    created = call(fake, "POST", "/api/directory/workflowTask/create", json={"workflow_name": "x", "env_name": "dev"})
    assert created.status_code == 500 and created.json()["message"] == "Internal Error: "
    got = call(fake, "GET", "/api/directory/workflowTask/id/49/pipelines/demo-workflow-dev")
    assert got.status_code == 500
    for action in ("restart", "cancel"):
        answer = call(fake, "POST", f"/api/directory/workflowTask/id/12/pipelines/demo-workflow-flaky/{action}")
        assert (answer.status_code, answer.json()) == (200, {"resultCode": 500, "errorMsg": "fail"})
