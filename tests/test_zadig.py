"""scripts/zadig.py against a mocked Zadig (responses): every command, every error body, waiting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import responses
from click.testing import CliRunner, Result
from responses import matchers, registries

from tests.conftest import github_outputs, load_script

zd = load_script("zadig")

BASE = "https://zadig.example.test"
TOKEN = "zt-unit-secret-7f3a9c"  # a test credential; invoke() checks it never shows
AUTH = matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"})
LEGACY = f"{BASE}/api/directory/workflowTask"
CUSTOM = f"{BASE}/openapi/workflows/custom/task"
SHA = "0123456789abcdef0123456789abcdef01234567"


def legacy_task(workflow: str, task_id: int) -> str:
    return f"{LEGACY}/id/{task_id}/pipelines/{workflow}"


def custom_query(workflow: str, task_id: int) -> Any:
    return matchers.query_param_matcher({"taskId": str(task_id), "workflowKey": workflow})


def runner() -> CliRunner:
    """stdout and stderr apart on click 8.1 (mix_stderr=False) and 8.2+ (always apart)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def invoke(*args: str, env: Optional[Dict[str, Optional[str]]] = None) -> Result:
    base_env: Dict[str, Optional[str]] = {
        "ZADIG_URL": BASE,
        "ZADIG_TOKEN": TOKEN,
        "ZADIG_PROJECT": None,
        "ZADIG_WORKFLOW": None,
        "ZADIG_ENV": None,
        "ZADIG_TASK_ID": None,
        "CIRELAY_WAIT_TIMEOUT": None,
        "GITHUB_OUTPUT": None,
        "GITHUB_STEP_SUMMARY": None,
    }
    base_env.update(env or {})
    result = runner().invoke(zd.cli, list(args), env=base_env)
    assert TOKEN not in result.stdout + result.stderr
    return result


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True, registry=registries.OrderedRegistry) as mock:
        yield mock


REGISTRY = {"registry_id": "r1", "address": "https://reg.example.test", "namespace": "shop"}
BUILD_JOB = {
    "name": "build",
    "type": "zadig-build",
    "spec": {
        "docker_registry_id": "r1",
        "service_and_builds": [{"service_name": "api", "service_module": "api", "build_name": "api-build"}],
    },
}


def workflow_detail(
    api: responses.RequestsMock,
    workflow: str = "bd",
    project: str = "shop",
    jobs: Optional[List[Dict[str, Any]]] = None,
    params: Optional[List[Dict[str, Any]]] = None,
) -> None:
    """The GET of the workflow's detail that `custom run` sends first (Zadig's OpenAPIWorkflowV4Detail)."""
    detail = {
        "workflow_key": workflow,
        "project_key": project,
        "params": params if params is not None else [],
        "stages": [{"name": "only", "jobs": jobs if jobs is not None else [{"name": "job", "type": "freestyle"}]}],
    }
    api.get(
        f"{BASE}/openapi/workflows/custom/{workflow}/detail",
        json=detail,
        match=[AUTH, matchers.query_param_matcher({"projectKey": project})],
    )


def custom_state(status: Optional[str], build: str, deploy: str) -> Dict[str, Any]:
    task: Dict[str, Any] = {
        "task_id": 5,
        "workflow_key": "bd",
        "project_key": "shop",
        "stages": [
            {"name": "build", "status": build, "jobs": [{"name": "build-api", "status": build}]},
            {
                "name": "deploy",
                "status": deploy,
                "jobs": [{"name": "deploy-dev", "display_name": "dev", "status": deploy}],
            },
        ],
    }
    if status is not None:
        task["status"] = status
    return task


# -- settings -------------------------------------------------------------------------------------


def test_missing_url_and_token_exit_2() -> None:
    result = invoke("task", "get", "-w", "wf", "--id", "1", env={"ZADIG_URL": None})
    assert result.exit_code == 2
    assert "missing --url: pass it or set ZADIG_URL" in result.stderr
    result = invoke("task", "get", "-w", "wf", "--id", "1", env={"ZADIG_TOKEN": None})
    assert result.exit_code == 2
    assert "missing ZADIG_TOKEN: set it to a Zadig API token (read only from the environment)" in result.stderr
    assert invoke("task", "get", "-w", "wf", "--id", "1", "--token", "x").exit_code == 2  # no such option


@pytest.mark.parametrize("token", ["zt-secret-1\nzt-rest", "zt-secret-1\rzt-rest", "zt-secret-1\u4e2d"])
def test_a_token_no_header_can_carry_is_exit_2_without_showing_it(token: str) -> None:
    # requests would refuse the header with an error that quotes it: the secret on stderr.
    result = invoke("task", "get", "-w", "wf", "--id", "1", env={"ZADIG_TOKEN": token})
    assert result.exit_code == 2, result.stderr
    assert "ZADIG_TOKEN holds a line break" in result.stderr
    assert "zt-secret-1" not in result.stdout + result.stderr


def test_url_must_be_http() -> None:
    result = invoke("custom", "get", "-w", "wf", "--id", "1", env={"ZADIG_URL": "zadig.example.test"})
    assert result.exit_code == 2
    assert "ZADIG_URL must start with http:// or https://, got 'zadig.example.test'" in result.stderr


def test_help_lists_exit_codes_and_env_vars() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "ZADIG_URL" in result.output and "ZADIG_TOKEN" in result.output
    assert "3 timed out waiting" in result.output
    result = invoke("custom", "run", "--help")
    assert "CIRELAY_WAIT_TIMEOUT" in result.output and "--cancel-on-timeout" in result.output


def test_task_id_from_the_environment(api: responses.RequestsMock, no_sleep: list) -> None:
    # A later CI step waits for the task an earlier one started, its id exported as ZADIG_TASK_ID.
    api.get(CUSTOM, json=custom_state("passed", "passed", "passed"), match=[custom_query("bd", 5)])
    result = invoke("custom", "wait", "-w", "bd", env={"ZADIG_TASK_ID": "5"})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "passed"
    assert "ZADIG_TASK_ID" in invoke("task", "get", "--help").output


def _commands(group: Any, path: str = "") -> Iterator[Any]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{path}{name} ")
        else:
            yield f"{path}{name}", command


def test_every_command_takes_url_after_it() -> None:
    commands = dict(_commands(zd.cli))
    assert len(commands) == 15
    for name, command in commands.items():
        url = [p for p in command.params if p.name == "url"]
        assert len(url) == 1, name
        assert (url[0].opts, url[0].envvar, url[0].show_envvar) == (["--url"], "ZADIG_URL", True), name
    assert [p.name for p in zd.cli.params] == ["version"]  # no group options: --url goes after the command


OTHER = "https://other-zadig.example.test"


@pytest.mark.parametrize(
    ("args", "env_url"),
    [
        (["--url", OTHER], None),  # the option after the command (e.g. the action's args)
        ([f"--url={OTHER}"], BASE),  # the option beats ZADIG_URL
        ([], OTHER),  # ZADIG_URL alone
    ],
)
def test_url_after_the_command_or_from_env(api: responses.RequestsMock, args: List[str], env_url: str) -> None:
    task = {"workflow_name": "wf", "status": "passed"}
    api.get(f"{OTHER}/api/directory/workflowTask/id/3/pipelines/wf", json=task, match=[AUTH])
    result = invoke("task", "get", "-w", "wf", "--id", "3", *args, env={"ZADIG_URL": env_url})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"task_id": 3, **task}


def test_url_after_custom_wait(api: responses.RequestsMock) -> None:
    api.get(f"{OTHER}/openapi/workflows/custom/task", json=custom_state("passed", "passed", "passed"), match=[AUTH])
    result = invoke("custom", "wait", "-w", "bd", "--id", "5", "--url", OTHER, env={"ZADIG_URL": None})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "passed"


def test_url_before_the_command_is_no_option() -> None:
    result = invoke("--url", OTHER, "task", "get", "-w", "wf", "--id", "3")
    assert result.exit_code == 2
    assert "No such option: --url" in result.stderr


# -- legacy: list ---------------------------------------------------------------------------------


def test_task_list_by_commit(api: responses.RequestsMock) -> None:
    tasks = [{"task_id": 49, "status": "passed", "url": f"{BASE}/v1/projects/detail/p/pipelines/multi/wf/49"}]
    api.get(LEGACY, json=tasks, match=[AUTH, matchers.query_param_matcher({"commitId": SHA[:8]})])
    result = invoke("task", "list", "--commit-id", SHA[:8])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == tasks


@pytest.mark.parametrize("commit", ["abc1234", "0123456g", "", "0123 4567"])
def test_task_list_rejects_short_or_non_hex_commit(commit: str, api: responses.RequestsMock) -> None:
    result = invoke("task", "list", "--commit-id", commit)
    assert result.exit_code == 2
    assert "expected at least 8 hex characters of a commit SHA" in result.stderr
    assert result.stdout == ""


def test_task_list_result_code_error(api: responses.RequestsMock) -> None:
    api.get(LEGACY, json={"resultCode": 401, "errorMsg": "auth failed!"})
    result = invoke("task", "list", "--commit-id", SHA)
    assert result.exit_code == 1
    assert result.stderr == f"Error: Zadig could not list the tasks of commit {SHA}: auth failed! (resultCode 401)\n"


# -- legacy: create -------------------------------------------------------------------------------


def test_task_create_body_merges_builds_per_service(api: responses.RequestsMock, tmp_path: Path) -> None:
    body = {
        "workflow_name": "shop-workflow-dev",
        "env_name": "dev",
        "release_images": [{"image": "reg.example/api:1.2=x", "service_name": "api"}],
        "targets": [
            {
                "name": "web",
                "service_type": "helm",
                "build": {
                    "repos": [
                        {"repo_name": "web", "branch": "main", "pr": 0},
                        {"repo_name": "web-assets", "branch": "feature/x", "pr": 42},
                    ]
                },
            },
            {
                "name": "worker",
                "service_type": "helm",
                "build": {"repos": [{"repo_name": "w", "branch": "b#c", "pr": 0}]},
            },
        ],
    }
    answer = {"project_name": "shop", "workflow_name": "shop-workflow-dev", "task_id": 7}
    api.post(f"{LEGACY}/create", json=answer, match=[AUTH, matchers.json_params_matcher(body)])
    outputs = tmp_path / "out"
    result = invoke(
        "task", "create", "-w", "shop-workflow-dev", "-e", "dev",
        "--image", "api=reg.example/api:1.2=x",
        "--build", "web:web@main",
        "--build", "worker:w@b#c",
        "--build", "web:web-assets@feature/x#42",
        "--service-type", "helm",
        env={"GITHUB_OUTPUT": str(outputs)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == answer
    url = f"{BASE}/v1/projects/detail/shop/pipelines/multi/shop-workflow-dev/7"
    assert result.stderr == f"started task 7 of workflow shop-workflow-dev: {url}\n"
    values = github_outputs(outputs)
    assert values["task-id"] == "7"
    assert values["url"] == url
    assert json.loads(values["result"]) == answer
    assert "status" not in values


def test_task_create_needs_an_image_or_a_build(api: responses.RequestsMock) -> None:
    result = invoke("task", "create", "-w", "wf", "-e", "dev")
    assert result.exit_code == 2
    assert "give at least one --image SERVICE=IMAGE or --build SERVICE:REPO@BRANCH" in result.stderr
    result = invoke("task", "create", "-w", "wf", "-e", "dev", "--image", "api=")
    assert result.exit_code == 2
    assert "--image api= names no image" in result.stderr


@pytest.mark.parametrize("spec", ["web", "web:repo", ":repo@main", "web:@main", "web:repo@"])
def test_task_create_rejects_a_bad_build(spec: str, api: responses.RequestsMock) -> None:
    result = invoke("task", "create", "-w", "wf", "-e", "dev", "--build", spec)
    assert result.exit_code == 2
    assert "expected SERVICE:REPO@BRANCH or SERVICE:REPO@BRANCH#PR" in result.stderr


def test_task_create_zadig_error_shows_message_and_description(api: responses.RequestsMock) -> None:
    error = {
        "type": "error",
        "code": 6540,
        "message": "新建或更新wokflow失败",
        "description": "workflow [wf] 在项目 [p] 中已经存在!",
        "extra": {},
    }
    api.post(f"{LEGACY}/create", status=400, json=error)
    result = invoke("task", "create", "-w", "wf", "-e", "dev", "--image", "a=b")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: 新建或更新wokflow失败: workflow [wf] 在项目 [p] 中已经存在! (400, POST {LEGACY}/create)\n"
    )


def test_task_create_is_never_retried(api: responses.RequestsMock, no_sleep: list) -> None:
    api.post(f"{LEGACY}/create", status=503, json={"message": "upstream busy"})
    result = invoke("task", "create", "-w", "wf", "-e", "dev", "--image", "a=b", "--wait")
    assert result.exit_code == 1
    assert len(api.calls) == 1
    assert "upstream busy (503, POST" in result.stderr


def test_task_create_wait_follows_the_task(api: responses.RequestsMock, no_sleep: list) -> None:
    api.post(f"{LEGACY}/create", json={"project_name": "p", "workflow_name": "wf", "task_id": 8})
    api.get(legacy_task("wf", 8), json={"workflow_name": "wf"}, match=[AUTH])
    api.get(legacy_task("wf", 8), json={"workflow_name": "wf", "status": "running"})
    api.get(legacy_task("wf", 8), json={"workflow_name": "wf", "status": "running"})
    api.get(legacy_task("wf", 8), json={"workflow_name": "wf", "status": "passed"})
    result = invoke("task", "create", "-w", "wf", "-e", "dev", "--image", "a=b", "--wait")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"task_id": 8, "workflow_name": "wf", "status": "passed"}
    url = f"{BASE}/v1/projects/detail/p/pipelines/multi/wf/8"
    assert result.stderr == (
        f"started task 8 of workflow wf: {url}\n"
        "Zadig task wf #8: no status yet\n"
        "Zadig task wf #8: running\n"
        "Zadig task wf #8: passed\n"
    )
    assert no_sleep == [2.0, 3.0, 4.5]


def test_task_create_answer_without_task_id(api: responses.RequestsMock) -> None:
    api.post(f"{LEGACY}/create", json={"message": "success"})
    result = invoke("task", "create", "-w", "wf", "-e", "dev", "--image", "a=b", "--wait")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"message": "success"}
    assert "its answer names no task_id" in result.stderr
    assert "--wait cannot follow the task" in result.stderr
    api.post(f"{LEGACY}/create", json={"message": "success"})
    result = invoke("task", "create", "-w", "wf", "-e", "dev", "--image", "a=b")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: Zadig accepted the request but its answer names no task_id")


# -- legacy: get, restart, cancel, wait -----------------------------------------------------------


def test_task_get_and_its_outputs(api: responses.RequestsMock, tmp_path: Path) -> None:
    task = {"workflow_name": "wf", "env_name": "dev", "targets": [], "images": [], "status": "failed"}
    api.get(legacy_task("wf", 3), json=task, match=[AUTH])
    outputs, summary = tmp_path / "out", tmp_path / "summary"
    result = invoke(
        "task", "get", "-w", "wf", "--id", "3", env={"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.exit_code == 0  # reading a failed task is not a failure
    assert json.loads(result.stdout) == {"task_id": 3, **task}  # the legacy detail omits its id; we add it
    values = github_outputs(outputs)
    assert (values["task-id"], values["status"], values["url"]) == ("3", "failed", legacy_task("wf", 3))
    assert "- **status**: ❌ failed\n" in summary.read_text()


def test_task_get_unknown_task(api: responses.RequestsMock) -> None:
    error = {
        "type": "error",
        "code": 6161,
        "message": "获取工作流任务失败",
        "description": "mongo: no documents in result",
    }
    api.get(legacy_task("wf", 99), status=400, json=error)
    result = invoke("task", "get", "-w", "wf", "--id", "99")
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: 获取工作流任务失败: mongo: no documents in result (400, GET {legacy_task('wf', 99)})\n"
    )


def test_task_id_must_be_a_positive_number(api: responses.RequestsMock) -> None:
    assert invoke("task", "get", "-w", "wf", "--id", "x").exit_code == 2
    assert invoke("task", "get", "-w", "wf", "--id", "0").exit_code == 2


def test_task_restart_and_cancel(api: responses.RequestsMock) -> None:
    api.post(legacy_task("wf", 3) + "/restart", json={"resultCode": 0, "errorMsg": "success"}, match=[AUTH])
    result = invoke("task", "restart", "-w", "wf", "--id", "3")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"resultCode": 0, "errorMsg": "success"}
    api.post(legacy_task("wf", 3) + "/cancel", json={"message": "success"}, match=[AUTH])
    result = invoke("task", "cancel", "-w", "wf", "--id", "3")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"message": "success"}


@pytest.mark.parametrize(
    ("action", "answer", "expected"),
    [
        (
            "restart",
            {"resultCode": 403, "errorMsg": "forbidden"},
            "restart task 3 of workflow wf: forbidden (resultCode 403)",
        ),
        (
            "restart",
            {"resultCode": 500, "errorMsg": "fail"},
            "restart task 3 of workflow wf: fail (resultCode 500); Zadig v3.4.1 and later no longer have the legacy"
            " workflow-task backend (they answer every such call this way): use `custom retry` on a custom workflow"
            " instead",
        ),
        ("cancel", {"resultCode": 404, "errorMsg": "fail"}, "cancel task 3 of workflow wf: fail (resultCode 404)"),
        ("cancel", {"resultCode": 1}, "cancel task 3 of workflow wf: no reason given (resultCode 1)"),
    ],
)
def test_task_restart_and_cancel_result_codes(
    action: str, answer: Dict[str, Any], expected: str, api: responses.RequestsMock
) -> None:
    api.post(legacy_task("wf", 3) + f"/{action}", json=answer)
    result = invoke("task", action, "-w", "wf", "--id", "3")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: Zadig could not {expected}\n"


def test_task_restart_wait_ignores_the_old_status_for_a_while(api: responses.RequestsMock, no_sleep: list) -> None:
    api.post(legacy_task("wf", 3) + "/restart", json={"resultCode": 0, "errorMsg": "success"})
    for status in ("failed", "running", "passed"):
        api.get(legacy_task("wf", 3), json={"status": status})
    result = invoke("task", "restart", "-w", "wf", "--id", "3", "--wait")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "restarted task 3 of workflow wf\n"
        "Zadig task wf #3: failed (restart not picked up yet)\n"
        "Zadig task wf #3: running\n"
        "Zadig task wf #3: passed\n"
    )


def test_task_restart_wait_believes_a_lasting_old_status(api: responses.RequestsMock, no_sleep: list) -> None:
    api.post(legacy_task("wf", 3) + "/restart", json={"resultCode": 0, "errorMsg": "success"})
    for _ in range(zd.RESTART_GRACE_POLLS + 1):
        api.get(legacy_task("wf", 3), json={"status": "failed"})
    result = invoke("task", "restart", "-w", "wf", "--id", "3", "--wait")
    assert result.exit_code == 1
    assert result.stderr.endswith(f"Error: Zadig task wf #3 ended failed ({legacy_task('wf', 3)})\n")


@pytest.mark.parametrize("status", ["failed", "timeout", "cancelled", "reject"])
def test_task_wait_other_terminal_states_exit_1(status: str, api: responses.RequestsMock, no_sleep: list) -> None:
    api.get(legacy_task("wf", 4), json={"status": "running"})
    api.get(legacy_task("wf", 4), json={"status": status, "env_name": "dev"})
    result = invoke("task", "wait", "-w", "wf", "--id", "4")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"task_id": 4, "status": status, "env_name": "dev"}
    assert result.stderr == (
        f"Zadig task wf #4: running\nZadig task wf #4: {status}\n"
        f"Error: Zadig task wf #4 ended {status} ({legacy_task('wf', 4)})\n"
    )


def test_task_wait_success_writes_outputs(api: responses.RequestsMock, no_sleep: list, tmp_path: Path) -> None:
    api.get(legacy_task("wf", 4), json={"status": "PASSED"})
    outputs = tmp_path / "out"
    result = invoke("task", "wait", "-w", "wf", "--id", "4", env={"GITHUB_OUTPUT": str(outputs)})
    assert result.exit_code == 0
    assert github_outputs(outputs)["status"] == "PASSED"
    assert no_sleep == []


def test_task_wait_failure_still_writes_outputs(api: responses.RequestsMock, no_sleep: list, tmp_path: Path) -> None:
    api.get(legacy_task("wf", 4), json={"status": "failed"})
    outputs = tmp_path / "out"
    result = invoke("task", "wait", "-w", "wf", "--id", "4", env={"GITHUB_OUTPUT": str(outputs)})
    assert result.exit_code == 1
    values = github_outputs(outputs)
    assert (values["task-id"], values["status"]) == ("4", "failed")
    assert json.loads(values["result"]) == {"task_id": 4, "status": "failed"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    now = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    monkeypatch.setattr("time.sleep", lambda s: now.__setitem__(0, now[0] + s))
    return now


def test_task_wait_timeout_exit_3_and_cancel(api: responses.RequestsMock, clock: List[float], tmp_path: Path) -> None:
    for _ in range(4):  # at 0, 2, 5 and 9.5 s; the deadline is 10 s, and the poll pauses cap at 15 s
        api.get(legacy_task("wf", 4), json={"status": "running"})
    api.get(legacy_task("wf", 4), json={"status": "running"})  # at 10 s: the deadline has passed
    api.post(legacy_task("wf", 4) + "/cancel", json={"resultCode": 0, "errorMsg": "success"})
    api.get(legacy_task("wf", 4), json={"status": "cancelled"})  # read again: what the cancel left
    outputs = tmp_path / "out"
    result = invoke(
        "task", "wait", "-w", "wf", "--id", "4", "--timeout", "10", "--cancel-on-timeout",
        env={"GITHUB_OUTPUT": str(outputs)},
    )  # fmt: skip
    assert result.exit_code == 3
    assert json.loads(result.stdout) == {"task_id": 4, "status": "cancelled"}
    assert github_outputs(outputs)["status"] == "cancelled"
    assert result.stderr == (
        "Zadig task wf #4: running\n"
        "cancelling Zadig task wf #4\n"
        "Error: gave up waiting for Zadig task wf #4 after 10 s and cancelled it "
        f"({legacy_task('wf', 4)})\n"
    )
    assert clock[0] == 10


def test_task_wait_timeout_from_env_without_cancel(api: responses.RequestsMock, clock: List[float]) -> None:
    api.get(legacy_task("wf", 4), json={"status": "running"})
    api.get(legacy_task("wf", 4), json={"status": "running"})
    result = invoke("task", "wait", "-w", "wf", "--id", "4", "--poll-max", "1", env={"CIRELAY_WAIT_TIMEOUT": "1"})
    assert result.exit_code == 3
    assert "cancelling" not in result.stderr
    assert clock[0] == 1


def test_task_wait_interrupted_cancels(api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", interrupt)
    api.get(legacy_task("wf", 4), json={"status": "running"})
    api.post(legacy_task("wf", 4) + "/cancel", json={"resultCode": 0, "errorMsg": "success"})
    api.get(legacy_task("wf", 4), json={"status": "cancelled"})  # read once more: what the cancel left
    result = invoke("task", "wait", "-w", "wf", "--id", "4", "--cancel-on-timeout")
    assert result.exit_code == 130
    assert result.stderr.endswith("cancelling Zadig task wf #4\nInterrupted.\n")
    # A stopped wait still says where the task was: the final state as JSON, as every wait does.
    assert json.loads(result.stdout) == {"task_id": 4, "status": "cancelled"}


def test_custom_wait_interrupted_prints_the_last_state(
    api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", interrupt)
    api.get(CUSTOM, json=custom_state("running", "running", ""))
    result = invoke("custom", "wait", "-w", "bd", "--id", "5")
    assert result.exit_code == 130
    assert result.stderr.endswith("Interrupted.\n")
    assert json.loads(result.stdout)["status"] == "running"  # no cancel asked: the last state seen


def test_task_wait_retries_a_failing_poll(api: responses.RequestsMock, no_sleep: list) -> None:
    api.get(legacy_task("wf", 4), status=502)
    api.get(legacy_task("wf", 4), json={"status": "passed"})
    result = invoke("task", "wait", "-w", "wf", "--id", "4")
    assert result.exit_code == 0
    assert len(api.calls) == 2


# -- auth and error bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        (401, "Zadig did not accept the token (HTTP 401): check ZADIG_TOKEN"),
        (403, "Zadig refused access (HTTP 403): the token's user lacks permission on this project or workflow"),
    ],
)
def test_empty_401_and_403_get_a_sentence(status: int, sentence: str, api: responses.RequestsMock) -> None:
    api.get(CUSTOM, status=status, body=b"")
    result = invoke("custom", "get", "-w", "wf", "--id", "2")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {sentence} ({status}, GET {CUSTOM}?taskId=2&workflowKey=wf)\n"


def test_403_with_a_body_adds_its_message(api: responses.RequestsMock) -> None:
    workflow_detail(api, "wf", "p")
    api.post(CUSTOM, status=403, json={"type": "error", "code": 6090, "message": "无权限", "description": "no run"})
    result = invoke("custom", "run", "-p", "p", "-w", "wf")
    assert result.exit_code == 1
    assert "lacks permission on this project or workflow: 无权限: no run (403, POST" in result.stderr


def test_non_json_answer(api: responses.RequestsMock) -> None:
    api.get(legacy_task("wf", 1), body="<html>502 Bad Gateway</html>")
    result = invoke("task", "get", "-w", "wf", "--id", "1")
    assert result.exit_code == 1
    assert "expected JSON from GET" in result.stderr and "<html>502 Bad Gateway</html>" in result.stderr


# -- custom workflows -----------------------------------------------------------------------------


def test_custom_run_body_and_answer(api: responses.RequestsMock, tmp_path: Path) -> None:
    inputs = [{"job_name": "build", "parameters": {"registry": "r"}}]
    params = [{"name": "TAG", "type": "string", "value": ""}, {"name": "ENV", "type": "text", "value": "x"}]
    workflow_detail(api, jobs=[BUILD_JOB], params=params)
    api.get(f"{BASE}/openapi/system/registry", json=[REGISTRY], match=[AUTH])
    body = {
        "project_key": "shop",
        "workflow_key": "bd",
        "parameters": [
            {"name": "TAG", "value": "1.2=3", "type": "string"},
            {"name": "ENV", "value": "", "type": "text"},
        ],
        # derived from the workflow, then --inputs merged over it key by key
        "inputs": [
            {
                "job_name": "build",
                "job_type": "zadig-build",
                "parameters": {
                    "registry": "r",
                    "service_list": [{"service_name": "api", "service_module": "api", "repo_info": [], "inputs": []}],
                },
            }
        ],
    }
    answer = {"project_name": "shop", "workflow_name": "bd", "task_id": 5}
    api.post(CUSTOM, json=answer, match=[AUTH, matchers.json_params_matcher(body)])
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    outputs = tmp_path / "out"
    result = invoke(
        "custom", "run", "-p", "shop", "-w", "bd", "--param", "TAG=1.2=3", "--param", "ENV=",
        "--inputs", f"@{tmp_path / 'inputs.json'}",
        env={"GITHUB_OUTPUT": str(outputs)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == answer
    assert github_outputs(outputs)["url"] == f"{BASE}/v1/projects/detail/shop/pipelines/custom/bd/5"


def test_custom_run_defaults_from_env_and_every_job(api: responses.RequestsMock) -> None:
    workflow_detail(api)
    inputs = [{"job_name": "job", "job_type": "freestyle", "parameters": {}}]
    body = {"project_key": "shop", "workflow_key": "bd", "parameters": [], "inputs": inputs}
    api.post(CUSTOM, json={"task_id": 1}, match=[matchers.json_params_matcher(body)])
    result = invoke("custom", "run", env={"ZADIG_PROJECT": "shop", "ZADIG_WORKFLOW": "bd"})
    assert result.exit_code == 0, result.output


def test_custom_run_inputs_must_be_an_array(api: responses.RequestsMock) -> None:
    result = invoke("custom", "run", "-p", "shop", "-w", "bd", "--inputs", '{"job_name": "x"}')
    assert result.exit_code == 2
    assert "expected a JSON array, got dict" in result.stderr


def test_custom_run_is_never_retried(api: responses.RequestsMock, no_sleep: list) -> None:
    workflow_detail(api)
    api.post(CUSTOM, status=503, body=b"")
    result = invoke("custom", "run", "-p", "shop", "-w", "bd", "--wait")
    assert result.exit_code == 1
    assert len(api.calls) == 2  # the detail, then the one POST


def test_custom_run_wait_shows_stage_and_job_changes_only(api: responses.RequestsMock, no_sleep: list) -> None:
    workflow_detail(api)
    api.post(CUSTOM, json={"project_name": "shop", "workflow_name": "bd", "task_id": 5})
    states = [
        custom_state(None, "", ""),
        custom_state("running", "running", ""),
        custom_state("running", "running", ""),
        custom_state("running", "passed", "running"),
        custom_state("passed", "passed", "passed"),
    ]
    for state in states:
        api.get(CUSTOM, json=state, match=[AUTH, custom_query("bd", 5)])
    result = invoke("custom", "run", "-p", "shop", "-w", "bd", "--wait", "--poll-max", "3")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == states[-1]
    assert result.stderr == (
        "running jobs of workflow bd: job\n"
        f"started task 5 of workflow bd: {BASE}/v1/projects/detail/shop/pipelines/custom/bd/5\n"
        "Zadig task bd #5: no status yet | build: pending [build-api pending] | deploy: pending [dev pending]\n"
        "Zadig task bd #5: running | build: running [build-api running] | deploy: pending [dev pending]\n"
        "Zadig task bd #5: running | build: passed [build-api passed] | deploy: running [dev running]\n"
        "Zadig task bd #5: passed | build: passed [build-api passed] | deploy: passed [dev passed]\n"
    )
    assert no_sleep == [2.0, 3, 3, 3]


@pytest.mark.parametrize("status", ["failed", "timeout", "cancelled", "reject"])
def test_custom_wait_other_terminal_states(status: str, api: responses.RequestsMock, no_sleep: list) -> None:
    final = custom_state(status, "passed", status)
    api.get(CUSTOM, json=final, match=[custom_query("bd", 5)])
    result = invoke("custom", "wait", "-w", "bd", "--id", "5")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == final
    url = f"{BASE}/v1/projects/detail/shop/pipelines/custom/bd/5"
    assert result.stderr.endswith(
        f"Error: Zadig task bd #5 ended {status} | build: passed [build-api passed] | "
        f"deploy: {status} [dev {status}] ({url})\n"
    )
    assert len(api.calls) == 1  # the first GET (for the project, hence the URL) is also the first poll


def test_custom_run_answer_without_task_id_and_wait(api: responses.RequestsMock) -> None:
    workflow_detail(api)
    api.post(CUSTOM, json={"message": "success"})
    result = invoke("custom", "run", "-p", "shop", "-w", "bd", "--wait")
    assert result.exit_code == 1
    assert "answer names no task_id" in result.stderr


def test_custom_get(api: responses.RequestsMock, tmp_path: Path) -> None:
    state = custom_state("running", "running", "")
    api.get(CUSTOM, json=state, match=[AUTH, custom_query("bd", 5)])
    outputs = tmp_path / "out"
    result = invoke("custom", "get", "-w", "bd", "--id", "5", env={"GITHUB_OUTPUT": str(outputs)})
    assert result.exit_code == 0
    assert json.loads(result.stdout) == state
    values = github_outputs(outputs)
    assert (values["status"], values["url"]) == ("running", f"{BASE}/v1/projects/detail/shop/pipelines/custom/bd/5")


def test_custom_cancel(api: responses.RequestsMock) -> None:
    api.delete(CUSTOM, json={"message": "success"}, match=[AUTH, custom_query("bd", 5)])
    result = invoke("custom", "cancel", "-w", "bd", "--id", "5")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"message": "success"}


def test_custom_cancel_error(api: responses.RequestsMock) -> None:
    error = {"type": "error", "code": 6163, "message": "取消工作流任务失败", "description": "task is already passed"}
    api.delete(CUSTOM, status=400, json=error)
    result = invoke("custom", "cancel", "-w", "bd", "--id", "5")
    assert result.exit_code == 1
    assert "Error: 取消工作流任务失败: task is already passed (400, DELETE" in result.stderr


def test_custom_retry_and_wait(api: responses.RequestsMock, no_sleep: list) -> None:
    retry = f"{BASE}/openapi/workflows/custom/bd/task/5"
    api.post(retry, json={"message": "success"}, match=[AUTH, matchers.query_param_matcher({"projectKey": "shop"})])
    api.get(CUSTOM, json=custom_state("failed", "passed", "failed"))
    api.get(CUSTOM, json=custom_state("running", "running", ""))
    api.get(CUSTOM, json=custom_state("passed", "passed", "passed"))
    result = invoke("custom", "retry", "-p", "shop", "-w", "bd", "--id", "5", "--wait")
    assert result.exit_code == 0, result.output
    assert "(restart not picked up yet)" in result.stderr
    assert json.loads(result.stdout)["status"] == "passed"


def test_custom_retry_error(api: responses.RequestsMock) -> None:
    error = {"type": "error", "code": 6164, "message": "重试工作流任务失败", "description": "task is running"}
    api.post(f"{BASE}/openapi/workflows/custom/bd/task/5", status=400, json=error)
    result = invoke("custom", "retry", "-p", "shop", "-w", "bd", "--id", "5")
    assert result.exit_code == 1
    where = f"POST {BASE}/openapi/workflows/custom/bd/task/5?projectKey=shop"
    assert result.stderr == f"Error: 重试工作流任务失败: task is running (400, {where})\n"


def test_timeout_cancel_then_a_failed_read_shows_the_last_state(
    api: responses.RequestsMock, clock: List[float]
) -> None:
    api.get(CUSTOM, json=custom_state("running", "running", ""))
    api.get(CUSTOM, json=custom_state("running", "running", ""))
    api.delete(CUSTOM, json={"message": "success"})
    error = {"type": "error", "code": 6150, "message": "获取工作流任务失败", "description": "gone"}
    api.get(CUSTOM, status=400, json=error)
    result = invoke("custom", "wait", "-w", "bd", "--id", "5", "--timeout", "2", "--cancel-on-timeout")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "running"
    assert "could not read Zadig task bd #5 after cancelling it: 获取工作流任务失败: gone (400, GET" in result.stderr
    assert "after 2 s and cancelled it" in result.stderr.splitlines()[-1]  # the cancel itself went through


def test_custom_wait_timeout_cancels_with_delete(api: responses.RequestsMock, clock: List[float]) -> None:
    api.get(CUSTOM, json=custom_state("running", "running", ""))
    api.get(CUSTOM, json=custom_state("running", "running", ""))
    api.delete(CUSTOM, status=400, json={"type": "error", "code": 6163, "message": "取消失败", "description": "gone"})
    result = invoke("custom", "wait", "-w", "bd", "--id", "5", "--timeout", "2", "--cancel-on-timeout")
    assert result.exit_code == 3
    assert "could not cancel Zadig task bd #5: 取消失败: gone (400, DELETE" in result.stderr
    assert json.loads(result.stdout)["status"] == "running"  # no cancel, no second read: the last state seen
    assert "it may still be running remotely" in result.stderr


def test_workflow_names_are_quoted_in_paths(api: responses.RequestsMock) -> None:
    api.get(f"{LEGACY}/id/1/pipelines/a%2Fb%20c", json={"status": "passed"})
    assert invoke("task", "get", "-w", "a/b c", "--id", "1").exit_code == 0


# -- issue 10: Zadig's error bodies, the new custom commands ----------------------------------------

INTERNAL = {"message": "Internal Error: ", "code": 500, "description": "mongo: no documents in result"}


def test_a_500_with_zadigs_body_is_shown_and_not_retried(api: responses.RequestsMock, no_sleep: list) -> None:
    api.get(CUSTOM, status=500, json=INTERNAL)
    result = invoke("custom", "get", "-w", "wf", "--id", "2")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Internal Error: mongo: no documents in result (500, GET {CUSTOM}?taskId=2&workflowKey=wf)\n"
    )
    assert len(api.calls) == 1 and no_sleep == []


def test_a_bare_500_is_retried_with_backoff(api: responses.RequestsMock, no_sleep: list) -> None:
    api.get(CUSTOM, status=500, body=b"")
    api.get(CUSTOM, status=500, body="<html>oops</html>")
    api.get(CUSTOM, json=custom_state("passed", "passed", "passed"))
    result = invoke("custom", "get", "-w", "bd", "--id", "5")
    assert result.exit_code == 0, result.stderr
    assert no_sleep == [0.5, 1.0]


def test_custom_run_inputs_for_a_job_the_workflow_lacks_is_exit_2(api: responses.RequestsMock) -> None:
    workflow_detail(api)
    result = invoke("custom", "run", "-p", "shop", "-w", "bd", "--inputs", '[{"job_name": "nope", "parameters": {}}]')
    assert result.exit_code == 2
    assert "--inputs names job 'nope', which workflow bd does not have (its jobs: job)" in result.stderr


def test_custom_run_deploy_without_images_asks_for_its_input(api: responses.RequestsMock) -> None:
    deploy = {"name": "dep", "type": "zadig-deploy", "spec": {"env": "dev", "services": [{"service_name": "api"}]}}
    workflow_detail(api, jobs=[deploy])
    result = invoke("custom", "run", "-p", "shop", "-w", "bd")
    assert result.exit_code == 2
    assert "job dep (zadig-deploy) cannot run as configured: it deploys no service by default" in result.stderr
    assert '"env_name": "…", "service_list": [{"service_name": "…"' in result.stderr


def test_custom_run_build_registry_missing_from_the_list(api: responses.RequestsMock) -> None:
    workflow_detail(api, jobs=[BUILD_JOB])
    api.get(f"{BASE}/openapi/system/registry", json=[dict(REGISTRY, registry_id="other")])
    result = invoke("custom", "run", "-p", "shop", "-w", "bd")
    assert result.exit_code == 2
    assert "its image registry r1 is not in GET /openapi/system/registry" in result.stderr


def approval_task(*statuses: str) -> Dict[str, Any]:
    users = [{"type": "user", "user_id": "u1", "user_name": "alice"}, {"type": "group", "group_name": "ops"}]
    jobs = [
        {"name": f"job-1-{n}-0-ok{n}", "origin_name": f"ok{n}", "display_name": f"ok{n}", "type": "approval",
         "status": status, "spec": {"native_approval": {"approve_users": users}}}
        for n, status in enumerate(statuses)
    ]  # fmt: skip
    return {"task_id": 7, "project_key": "shop", "status": "running", "stages": [{"name": "gate", "jobs": jobs}]}


def test_custom_approve_sends_the_waiting_job_task(api: responses.RequestsMock) -> None:
    api.get(CUSTOM, json=approval_task("passed", "wait_for_approval"), match=[custom_query("bd", 7)])
    body = {"workflow_key": "bd", "task_id": 7, "stage_name": "job-1-1-0-ok1", "approve": False, "comment": "no"}
    api.post(f"{CUSTOM}/approve", json={"message": "success"}, match=[AUTH, matchers.json_params_matcher(body)])
    result = invoke("custom", "approve", "-w", "bd", "--id", "7", "--reject", "--comment", "no")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["job"] == "job-1-1-0-ok1"
    assert result.stderr.startswith("rejected job job-1-1-0-ok1 of Zadig task bd #7")


def test_custom_approve_with_two_waiting_needs_job(api: responses.RequestsMock) -> None:
    api.get(CUSTOM, json=approval_task("wait_for_approval", "wait_for_approval"))
    result = invoke("custom", "approve", "-w", "bd", "--id", "7")
    assert result.exit_code == 2
    assert "several jobs wait for approval (job-1-0-0-ok0, job-1-1-0-ok1): choose one with --job" in result.stderr


def test_progress_names_the_approvers() -> None:
    outcome, line = zd.describe_custom(approval_task("wait_for_approval"))
    assert outcome == "pending"
    assert line.endswith("— waits for approval of job job-1-0-0-ok0 by alice, group ops (custom approve)")
    assert zd.outcome_of("skipped") == "failure" and zd.outcome_of("pause") == "pending"


def test_custom_resume_takes_the_paused_stage_and_the_tasks_project(api: responses.RequestsMock) -> None:
    stages = [{"name": "build", "status": "passed", "jobs": []}, {"name": "live", "status": "pause", "jobs": []}]
    paused = {"task_id": 3, "project_key": "shop", "status": "pause", "stages": stages}
    api.get(CUSTOM, json=paused)
    api.post(
        f"{BASE}/openapi/workflows/custom/bd/task/3/manual-exec",
        json={"message": "success"},
        match=[
            matchers.query_param_matcher({"projectKey": "shop"}),
            matchers.json_params_matcher({"stage_name": "live"}),
        ],
    )
    result = invoke("custom", "resume", "-w", "bd", "--id", "3")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"message": "success", "workflow_key": "bd", "task_id": 3, "stage": "live"}


def test_custom_list_pages_until_the_limit(api: responses.RequestsMock) -> None:
    tasks = [{"task_id": n, "status": "passed"} for n in range(60, 0, -1)]
    path = f"{BASE}/openapi/workflows/custom/bd/tasks"
    for page, chunk in ((1, tasks[:50]), (2, tasks[50:55])):
        query = {"projectKey": "shop", "pageNum": str(page), "pageSize": "50"}
        api.get(path, json={"total": 60, "workflow_tasks": chunk}, match=[matchers.query_param_matcher(query)])
    result = invoke("custom", "list", "-p", "shop", "-w", "bd", "--limit", "55")
    assert result.exit_code == 0, result.stderr
    assert [t["task_id"] for t in json.loads(result.stdout)] == list(range(60, 5, -1))


def test_custom_logs_heads_each_job(api: responses.RequestsMock) -> None:
    api.get(CUSTOM, json=approval_task("passed", "passed"))
    api.get(f"{BASE}/openapi/logs/log/v4/workflow/bd/7/job-1-0-0-ok0", body="one\ntwo\n")
    api.get(f"{BASE}/openapi/logs/log/v4/workflow/bd/7/job-1-1-0-ok1", body="")
    result = invoke("custom", "logs", "-w", "bd", "--id", "7")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "==> ok0 (job-1-0-0-ok0) <==\none\ntwo\n\n==> ok1 (job-1-1-0-ok1) <==\n"
    assert "no log for job job-1-1-0-ok1 yet" in result.stderr


def test_legacy_get_500_names_custom_get(api: responses.RequestsMock) -> None:
    api.get(legacy_task("wf", 3), status=500, json=dict(INTERNAL, description="404 page not found"))
    result = invoke("task", "get", "-w", "wf", "--id", "3")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "; Zadig v3.4.1 and later no longer have the legacy workflow-task backend (they answer every such call this"
        " way): use `custom get` on a custom workflow instead\n"
    )


def test_derived_inputs_follow_each_zadig_generation() -> None:
    registries = [REGISTRY]
    new_build = {"name": "b", "type": "zadig-build", "spec": {"docker_registry_id": "r1", "service_and_builds": [],
                 "default_service_and_builds": [{"service_name": "web", "service_module": "web"}]}}  # fmt: skip
    assert zd.derive_input(new_build, lambda: registries)["parameters"] == {
        "registry": "https://reg.example.test/shop",
        "service_list": [{"service_name": "web", "service_module": "web", "repo_info": [], "inputs": []}],
    }
    from_job = {"name": "d", "type": "zadig-deploy", "spec": {"env": "dev", "source": "fromjob",
                "services": [{"service_name": "web", "modules": [{"service_module": "web"}]}]}}  # fmt: skip
    assert zd.derive_input(from_job, lambda: [])["parameters"] == {
        "env_name": "dev",
        "service_list": [{"service_name": "web", "service_module": "web", "image_name": ""}],
    }
    images = [{"service_name": "api", "service_module": "api", "image": "reg/api:1"}]
    saved = {"name": "d", "type": "zadig-deploy", "spec": {"env": "dev", "services": [], "service_and_images": images}}
    assert zd.derive_input(saved, lambda: [])["parameters"]["service_list"] == [
        {"service_name": "api", "service_module": "api", "image_name": "reg/api:1"}
    ]
    assert zd.derive_input({"name": "a", "type": "approval", "spec": {}}, lambda: [])["parameters"] == {}


def test_a_real_500_of_a_legacy_server_gets_no_backend_gone_hint(api: responses.RequestsMock) -> None:
    # A v3.4.0 server still has the backend: its own 500 is the error to show, not advice to switch APIs.
    api.get(legacy_task("wf", 3), status=500, json=dict(INTERNAL, description="env dev not found"))
    result = invoke("task", "get", "-w", "wf", "--id", "3")
    assert result.exit_code == 1
    assert "env dev not found" in result.stderr
    assert "no longer have the legacy workflow-task backend" not in result.stderr
