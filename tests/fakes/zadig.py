"""Fake Zadig: the legacy workflow-task API (Zadig <= 3.x) and the custom-workflow OpenAPI (v4+).

Shapes follow ../shared/seeds/zadig-workflow-api.md and koderover/zadig's handlers:

legacy (/api/directory):
- `GET  /workflowTask?commitId=` → `[{task_id, create_time, start_time, end_time, status, url}]`
  (a full SHA or any prefix of 8+ characters matches);
- `POST /workflowTask/create` `{workflow_name, env_name, release_images?, targets?}` →
  `{project_name, workflow_name, task_id}` (or the seed's `{"message":"success"}` when
  `abbreviated_create` is set);
- `GET  /workflowTask/id/{id}/pipelines/{name}` → `{workflow_name, env_name, targets, images,
  test_reports, status}`;
- `POST …/restart`, `POST …/cancel` → HTTP 200 `{resultCode, errorMsg}` (0/"success"; 404 or
  400/"fail" for an unknown task or a task in the wrong state).

custom workflows (/openapi/workflows/custom):
- `POST /task` `{project_key, workflow_key, parameters, inputs}` → `{project_name, workflow_name, task_id}`;
- `GET /task?taskId=&workflowKey=` → `{task_id, workflow_key, workflow_name, project_key, status,
  stages: [{name, status, parallel, jobs: [{name, display_name, type, status}]}], params, …}`;
- `DELETE /task?taskId=&workflowKey=` → `{"message": "success"}`;
- `POST /{workflow}/task/{id}?projectKey=` (retry) → `{"message": "success"}`.

Errors are Zadig's `{type, code, message, description, extra}` with HTTP 400. A request without
`Authorization: Bearer <token>` gets 401 and a workflow marked forbidden 403, both with an empty
body, as Zadig's auth middleware answers.

Tasks move through a scripted status sequence set per workflow: every GET of a task shows the
next status and the last one stays (None: the answer carries no status yet). Cancel makes the next
status `cancelled`; restart/retry starts the workflow's restart sequence. Custom tasks derive
their stage and job statuses from the task status. Seeded (project `demo`, in both APIs):
`demo-workflow-dev` / `build-and-deploy` (created → running → passed), `demo-workflow-flaky` /
`nightly-e2e` (running → failed; passes after a restart), `wf-<status>` for every terminal
status (running → status), `wf-forever` (running for ever), `wf-nostatus` (no status, then
passed), `wf-forbidden` (403); legacy tasks 49 and 12 ran for commit SEED_COMMIT.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import unquote

from tests.fakes.base import FakeServer, Reply, Request, json_reply

FAKE_TOKEN = "zadig-fake-token-3b9c"  # the fake's own credential; tests check it never shows
PROJECT = "demo"
SEED_COMMIT = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
TERMINAL = ("passed", "failed", "timeout", "cancelled", "reject")
RESTARTABLE = ("failed", "timeout", "cancelled", "reject")
DEFAULT_STAGES = [("build", ["build-api", "build-web"]), ("deploy", ["deploy-dev"])]


@dataclass
class Workflow:
    name: str
    project: str = PROJECT
    statuses: List[Optional[str]] = field(default_factory=lambda: ["created", "running", "passed"])
    restart_statuses: Optional[List[Optional[str]]] = None  # None: the same sequence again
    stages: List[Tuple[str, List[str]]] = field(default_factory=lambda: list(DEFAULT_STAGES))
    forbidden: bool = False


@dataclass
class Task:
    task_id: int
    workflow: Workflow
    statuses: List[Optional[str]]
    body: Dict[str, Any]
    commit_id: str = ""
    index: int = 0  # the next status a GET shows
    is_restart: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    def shown(self) -> Optional[str]:
        """The status the last GET showed (the first one before any GET)."""
        return self.statuses[min(max(self.index - 1, 0), len(self.statuses) - 1)]

    def advance(self) -> Tuple[Optional[str], int]:
        """Show the next status; returns it and how many 'running' steps lead up to it."""
        position = min(self.index, len(self.statuses) - 1)
        self.index += 1
        running = 0
        for status in reversed(self.statuses[:position]):
            if status != "running":
                break
            running += 1
        return self.statuses[position], running


def _error(code: int, message: str, description: str, status: int = 400) -> Reply:
    return json_reply(
        status, {"type": "error", "code": code, "message": message, "description": description, "extra": {}}
    )


class ZadigFake(FakeServer):
    """Fake Zadig with both APIs; add workflows with add_workflow(…, custom=…)."""

    def __init__(self, token: str = FAKE_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.abbreviated_create = False  # answer create with the seed's {"message":"success"}
        self.legacy: Dict[str, Workflow] = {}
        self.custom: Dict[str, Workflow] = {}
        self.legacy_tasks: Dict[Tuple[str, int], Task] = {}
        self.custom_tasks: Dict[Tuple[str, int], Task] = {}
        self._next_id: Dict[Tuple[bool, str], int] = {}
        self._state = threading.Lock()
        base = "/api/directory/workflowTask"
        task_path = base + r"/id/(?P<id>\d+)/pipelines/(?P<name>[^/]+)"
        self.route("GET", base)(self._legacy_list)
        self.route("POST", base + "/create")(self._legacy_create)
        self.route("GET", task_path)(self._legacy_get)
        self.route("POST", task_path + "/restart")(self._legacy_restart)
        self.route("POST", task_path + "/cancel")(self._legacy_cancel)
        self.route("POST", "/openapi/workflows/custom/task")(self._custom_run)
        self.route("GET", "/openapi/workflows/custom/task")(self._custom_get)
        self.route("DELETE", "/openapi/workflows/custom/task")(self._custom_cancel)
        self.route("POST", r"/openapi/workflows/custom/(?P<name>[^/]+)/task/(?P<id>\d+)")(self._custom_retry)

    # -- set-up ------------------------------------------------------------------------------
    def add_workflow(
        self,
        name: str,
        statuses: Optional[List[Optional[str]]] = None,
        *,
        custom: bool = False,
        restart_statuses: Optional[List[Optional[str]]] = None,
        project: str = PROJECT,
        stages: Optional[List[Tuple[str, List[str]]]] = None,
        forbidden: bool = False,
    ) -> Workflow:
        workflow = Workflow(name, project, forbidden=forbidden)
        if statuses is not None:
            workflow.statuses = list(statuses)
        workflow.restart_statuses = restart_statuses
        if stages is not None:
            workflow.stages = stages
        (self.custom if custom else self.legacy)[name] = workflow
        return workflow

    def add_task(
        self, workflow: str, statuses: List[Optional[str]], *, custom: bool = False, commit_id: str = ""
    ) -> Task:
        """Put a task in place, as if it had been started earlier."""
        with self._state:
            return self._new_task(custom, (self.custom if custom else self.legacy)[workflow], statuses, {}, commit_id)

    def _new_task(
        self, custom: bool, workflow: Workflow, statuses: List[Optional[str]], body: Dict[str, Any], commit_id: str = ""
    ) -> Task:
        key = (custom, workflow.name)
        task_id = self._next_id.get(key, 1)
        self._next_id[key] = task_id + 1
        task = Task(task_id, workflow, list(statuses), body, commit_id)
        (self.custom_tasks if custom else self.legacy_tasks)[(workflow.name, task_id)] = task
        return task

    def _authorized(self, request: Request) -> Optional[Reply]:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401)  # Zadig's middleware: no body
        return None

    def _task_url(self, task: Task, kind: str) -> str:
        workflow = task.workflow
        return f"{self.url}/v1/projects/detail/{workflow.project}/pipelines/{kind}/{workflow.name}/{task.task_id}"

    # -- legacy ------------------------------------------------------------------------------
    def _legacy_list(self, request: Request) -> Reply:
        denied = self._authorized(request)
        if denied:
            return denied
        commit = (request.arg("commitId") or "").lower()
        if len(commit) < 8:
            return json_reply(200, {"resultCode": 400, "errorMsg": "param is illegal!"})
        with self._state:
            found = [
                {
                    "task_id": t.task_id,
                    "create_time": t.created,
                    "start_time": t.created + 1,
                    "end_time": t.created + 30 if t.shown() in TERMINAL else 0,
                    "status": t.shown() or "",
                    "url": self._task_url(t, "multi"),
                }
                for t in self.legacy_tasks.values()
                if t.commit_id and t.commit_id.lower().startswith(commit)
            ]
        return json_reply(200, found)

    def _legacy_create(self, request: Request) -> Reply:  # noqa: PLR0911 - one answer per check, as Zadig's
        denied = self._authorized(request)
        if denied:
            return denied
        body = request.json()
        if not isinstance(body, dict) or not body.get("workflow_name") or not body.get("env_name"):
            return _error(400, "参数错误", "workflow_name and env_name are required")
        if not body.get("targets") and not body.get("release_images"):
            return _error(400, "参数错误", "targets 和 images 必须有一个参数存在")
        workflow = self.legacy.get(body["workflow_name"])
        if workflow is None:
            return _error(6540, "创建工作流任务失败", f"workflow [{body['workflow_name']}] not found")
        if workflow.forbidden:
            return Reply(403)
        with self._state:
            task = self._new_task(False, workflow, workflow.statuses, body)
        if self.abbreviated_create:
            return json_reply(200, {"message": "success"})
        return json_reply(
            200, {"project_name": workflow.project, "workflow_name": workflow.name, "task_id": task.task_id}
        )

    def _legacy_task(self, request: Request) -> Tuple[Optional[Task], Optional[Reply]]:
        denied = self._authorized(request)
        if denied:
            return None, denied
        name = unquote(request.params["name"])
        workflow = self.legacy.get(name)
        if workflow is not None and workflow.forbidden:
            return None, Reply(403)
        return self.legacy_tasks.get((name, int(request.params["id"]))), None

    def _legacy_get(self, request: Request) -> Reply:
        task, denied = self._legacy_task(request)
        if denied:
            return denied
        if task is None:
            return _error(6161, "获取工作流任务失败", "mongo: no documents in result")
        with self._state:
            status, _ = task.advance()
        body = task.body
        answer: Dict[str, Any] = {
            "workflow_name": task.workflow.name,
            "env_name": body.get("env_name", "dev"),
            "targets": [
                {"name": t.get("name"), "service_type": t.get("service_type", "k8s"), "build": t.get("build")}
                for t in body.get("targets") or []
            ],
            "images": [
                {"image": i.get("image"), "service_name": i.get("service_name"), "registry_repo": ""}
                for i in body.get("release_images") or []
            ],
            "test_reports": [],
        }
        if status is not None:
            answer["status"] = status
        return json_reply(200, answer)

    def _legacy_restart(self, request: Request) -> Reply:
        task, denied = self._legacy_task(request)
        if denied:
            return denied
        if task is None:
            return json_reply(200, {"resultCode": 404, "errorMsg": "fail"})
        with self._state:
            if task.shown() not in RESTARTABLE:
                return json_reply(200, {"resultCode": 400, "errorMsg": "fail"})
            task.statuses = list(task.workflow.restart_statuses or task.workflow.statuses)
            task.index, task.is_restart = 0, True
        return json_reply(200, {"resultCode": 0, "errorMsg": "success"})

    def _legacy_cancel(self, request: Request) -> Reply:
        task, denied = self._legacy_task(request)
        if denied:
            return denied
        if task is None:
            return json_reply(200, {"resultCode": 404, "errorMsg": "fail"})
        with self._state:
            if task.shown() in TERMINAL:
                return json_reply(200, {"resultCode": 400, "errorMsg": "fail"})
            task.statuses, task.index = ["cancelled"], 0
        return json_reply(200, {"resultCode": 0, "errorMsg": "success"})

    # -- custom workflows ----------------------------------------------------------------------
    def _custom_run(self, request: Request) -> Reply:  # noqa: PLR0911 - one answer per check, as Zadig's
        denied = self._authorized(request)
        if denied:
            return denied
        body = request.json()
        if not isinstance(body, dict) or not body.get("project_key") or not body.get("workflow_key"):
            return _error(400, "参数错误", "project_key and workflow_key are required")
        workflow = self.custom.get(body["workflow_key"])
        if workflow is None or workflow.project != body["project_key"]:
            return _error(
                6540,
                "创建工作流任务失败",
                f"workflow {body['workflow_key']} not found in project {body['project_key']}",
            )
        if workflow.forbidden:
            return Reply(403)
        for param in body.get("parameters") or []:
            if not isinstance(param, dict) or "name" not in param or "value" not in param:
                return _error(400, "参数错误", f"bad parameter {param!r}")
        with self._state:
            task = self._new_task(True, workflow, workflow.statuses, body)
        if self.abbreviated_create:
            return json_reply(200, {"message": "success"})
        return json_reply(
            200, {"project_name": workflow.project, "workflow_name": workflow.name, "task_id": task.task_id}
        )

    def _custom_task(
        self, request: Request, name: Optional[str], task_id: Optional[str]
    ) -> Tuple[Optional[Task], Optional[Reply]]:
        denied = self._authorized(request)
        if denied:
            return None, denied
        if not name or not task_id or not task_id.isdigit():
            return None, _error(400, "参数错误", "taskId and workflowKey are required")
        workflow = self.custom.get(name)
        if workflow is not None and workflow.forbidden:
            return None, Reply(403)
        task = self.custom_tasks.get((name, int(task_id)))
        if task is None:
            return None, _error(6150, "获取工作流任务失败", "mongo: no documents in result")
        return task, None

    def _custom_get(self, request: Request) -> Reply:
        task, failed = self._custom_task(request, request.arg("workflowKey"), request.arg("taskId"))
        if failed or task is None:
            return failed or Reply(500)
        with self._state:
            status, running = task.advance()
        stages = []
        count = len(task.workflow.stages)
        # The stage reached after `running` running polls holds the task's status; the ones before it passed.
        current = min(running, count - 1)
        for number, (stage_name, jobs) in enumerate(task.workflow.stages):
            if status == "passed" or number < current:
                stage_status = "passed"
            elif number == current and (status == "running" or status in TERMINAL):
                stage_status = str(status)
            else:
                stage_status = ""
            stages.append(
                {
                    "name": stage_name,
                    "status": stage_status,
                    "parallel": True,
                    "jobs": [
                        {"name": job, "display_name": job, "type": "zadig-build", "status": stage_status}
                        for job in jobs
                    ],
                }
            )
        answer: Dict[str, Any] = {
            "task_id": task.task_id,
            "workflow_key": task.workflow.name,
            "workflow_name": task.workflow.name,
            "project_key": task.workflow.project,
            "params": task.body.get("parameters") or [],
            "remark": "",
            "task_creator": "cirelay",
            "create_time": task.created,
            "start_time": task.created + 1,
            "stages": stages,
            "is_restart": task.is_restart,
            "debug": False,
        }
        if status is not None:
            answer["status"] = status
        if status in TERMINAL:
            answer["end_time"] = task.created + 30
        return json_reply(200, answer)

    def _custom_cancel(self, request: Request) -> Reply:
        task, failed = self._custom_task(request, request.arg("workflowKey"), request.arg("taskId"))
        if failed or task is None:
            return failed or Reply(500)
        with self._state:
            if task.shown() in TERMINAL:
                return _error(6163, "取消工作流任务失败", f"task is already {task.shown()}")
            task.statuses, task.index = ["cancelled"], 0
        return json_reply(200, {"message": "success"})

    def _custom_retry(self, request: Request) -> Reply:
        name = unquote(request.params["name"])
        task, failed = self._custom_task(request, name, request.params["id"])
        if failed or task is None:
            return failed or Reply(500)
        if request.arg("projectKey") != task.workflow.project:
            return _error(6164, "重试工作流任务失败", f"project {request.arg('projectKey')!r} has no workflow {name}")
        with self._state:
            if task.shown() not in RESTARTABLE:
                return _error(6164, "重试工作流任务失败", f"task is {task.shown() or 'not finished'}, not failed")
            task.statuses = list(task.workflow.restart_statuses or task.workflow.statuses)
            task.index, task.is_restart = 0, True
        return json_reply(200, {"message": "success"})


def make_server() -> ZadigFake:
    """A fake Zadig with the demo's workflows in both APIs and two legacy tasks for SEED_COMMIT."""
    fake = ZadigFake()
    for custom in (False, True):
        fake.add_workflow(
            "build-and-deploy" if custom else "demo-workflow-dev",
            ["created", "running", "running", "passed"] if custom else ["created", "running", "passed"],
            custom=custom,
        )
        fake.add_workflow(
            "nightly-e2e" if custom else "demo-workflow-flaky",
            ["running", "failed"],
            restart_statuses=["running", "passed"],
            custom=custom,
        )
        for status in TERMINAL:
            fake.add_workflow(f"wf-{status}", ["running", status], custom=custom)
        fake.add_workflow("wf-forever", ["running"], custom=custom)
        fake.add_workflow("wf-nostatus", [None, "passed"], custom=custom)
        fake.add_workflow("wf-forbidden", custom=custom, forbidden=True)
    fake._next_id[(False, "demo-workflow-dev")] = 49
    fake.add_task("demo-workflow-dev", ["passed"], commit_id=SEED_COMMIT)
    fake._next_id[(False, "demo-workflow-flaky")] = 12
    fake.add_task("demo-workflow-flaky", ["failed"], commit_id=SEED_COMMIT)
    return fake


def env_for(url: str) -> Dict[str, str]:
    """What scripts/zadig.py needs to talk to the fake."""
    return {"ZADIG_URL": url, "ZADIG_TOKEN": FAKE_TOKEN}
