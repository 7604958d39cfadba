"""Fake Zadig: the legacy workflow-task API and the custom-workflow OpenAPI, as koderover/zadig answers them.

Every rule below cites the upstream source it comes from: koderover/zadig at commit 18278c716
(2026-08-21, after v5.0.0), paths relative to pkg/microservice/aslan unless they start with pkg/.
Abbreviations: `router` = core/workflow/handler/router.go, `handler` = core/workflow/handler/openapi.go,
`openapi` = core/workflow/service/workflow/openapi.go, `types` = core/workflow/service/workflow/types.go,
`task_v4` = core/workflow/service/workflow/workflow_task_v4.go, `ctrl` = core/workflow/service/workflow/
controller/workflow.go, `errors` = pkg/tool/errors/errors.go, `codes` = pkg/tool/errors/http_errors.go.

Errors (errors:128-151, pkg/middleware/gin/response.go:36-52): a Zadig error with a 6xxx/7xxx code is
HTTP 400 `{type: "error", code, message, description, extra}`; one with another code (ErrInvalidParam
= 400 "Bad Request", codes:25) keeps that code as the HTTP status; any other Go error is HTTP 500
`{message: "Internal Error: ", code: 500, description: <the error>}`. A refused permission is HTTP
403 with no body (pkg/shared/handler/base.go:262-271); a bad token 401 with none (the auth layer).
A handler that sets no answer says `{"message": "success"}` (response.go:50).

Versions (git log of the same repository): the custom-workflow OpenAPI (create/get/cancel task) came
in 2537108ed, first tagged v1.15.0; detail, task list, approve and /openapi/system/registry in
4bd78116f, v1.18.0; `parameters` reach the task in b79434533, v3.1.0; the v4 job-log OpenAPI in
6294333cb, v3.4.0; manual-exec in 5e745a696, v5.0.0. bf642e113 (v3.4.1) removed aslan's legacy
`workflowtask` routes (router.go, `workflowtask := router.Group("workflowtask")`), which the public
gateway (pkg/microservice/picket/core/public/handler/router.go:29-33) still forwards to:
`legacy_removed = True` answers as such a server does (see _legacy_removed).

Strictness switch: `strict = True` (the default) is Zadig: a job not named in `inputs` is skipped, a
parameter the workflow does not define is refused. `strict = False` is a kinder server, for tests that
need one (empty inputs run every job as configured, unknown parameters are ignored).

Seeded (project `demo`, in both APIs): `demo-workflow-dev` / `build-and-deploy` (created → running →
passed), `demo-workflow-flaky` / `nightly-e2e` (running → failed; passes after a restart),
`wf-<status>` for every terminal status (running → status), `wf-forever` (running for ever),
`wf-nostatus` (no status, then passed), `wf-forbidden` (403); legacy tasks 49 and 12 ran for commit
SEED_COMMIT. Custom only: `deploy-dev` (build → approval → deploy, driven by its stages, see
_drive), `release` (a stage that waits for manual execution), `wf-skipped` (every job skipped at
run time), `wf-jira` (a job type the OpenAPI cannot take). Custom workflows' jobs are freestyle jobs
unless said otherwise; every custom workflow defines the parameters TAG, IMAGE_TAG and A (strings).
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import unquote

from cirelay.emulators.base import FakeServer, Reply, Request, json_reply

FAKE_TOKEN = "zadig-fake-token-3b9c"  # the fake's own credential; tests check it never shows
USER = {"type": "user", "user_id": "u-cirelay", "user_name": "cirelay"}  # whom FAKE_TOKEN belongs to
PROJECT = "demo"
SEED_COMMIT = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
# config/consts.go:131-141: CompletedStatus; skipped (consts.go:110) ends a task whose jobs all skipped.
TERMINAL = ("passed", "failed", "timeout", "cancelled", "reject")
ENDED = (*TERMINAL, "skipped")
RESTARTABLE = ("failed", "timeout", "cancelled", "reject")  # task_v4:1071-1075 (retry), the same for legacy
DEFAULT_STAGES = [("build", ["build-api", "build-web"]), ("deploy", ["deploy-dev"])]
MONGO_NOT_FOUND = "mongo: no documents in result"
REGISTRY = {
    "registry_id": "65a1f0c2e4b0a1b2c3d4e5f6",
    "address": "https://registry.example.com",
    "namespace": "shop",
    "provider": "native",
    "region": "",
    "is_default": True,
}
ENVS = ("dev", "staging")  # the environments of project demo
# openapi:332-417 GetInputUpdater: the job types the OpenAPI accepts input for; any other is a 500.
INPUT_TYPES = (
    "plugin", "freestyle", "zadig-build", "zadig-deploy", "k8s-blue-green-deploy", "k8s-canary-deploy",
    "custom-deploy", "k8s-blue-green-release", "k8s-canary-release", "zadig-test", "k8s-gray-release",
    "k8s-gray-rollback", "k8s-resource-patch", "zadig-scanning", "zadig-vm-deploy", "approval",
    "ai-release-specialist", "ai-task", "sql", "tapd",
)  # fmt: skip


@dataclass
class Job:
    """A job of a custom workflow as the detail shows it (models/workflow_v4.go:361-373)."""

    name: str
    type: str = "freestyle"
    spec: Dict[str, Any] = field(default_factory=dict)
    run_policy: str = ""  # config/consts.go:597: "force_run" may not be skipped

    def as_json(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "skipped": False,
            "spec": copy.deepcopy(self.spec),
            "run_policy": self.run_policy,
            "error_policy": None,
            "execute_policy": None,
            "service_modules": None,
        }


@dataclass
class Stage:
    name: str
    jobs: List[Job]
    parallel: bool = True
    manual_exec: bool = False  # models/workflow_v4.go:187-200, stage.manual_exec.enabled


StageSpec = Union[Stage, Tuple[str, Sequence[Union[str, Job]]]]


def _stage(spec: StageSpec) -> Stage:
    if isinstance(spec, Stage):
        return spec
    name, jobs = spec
    return Stage(name, [job if isinstance(job, Job) else Job(job) for job in jobs])


def _param(name: str, kind: str = "string", value: str = "", choices: Sequence[str] = ()) -> Dict[str, Any]:
    """A workflow parameter (models Param, as the detail's params show it; types:1653-1666)."""
    param: Dict[str, Any] = {"name": name, "description": "", "type": kind, "value": value, "repo": None}
    param.update({"default": value, "is_credential": False})
    if choices:
        param["choice_option"] = list(choices)
    return param


def _default_params() -> List[Dict[str, Any]]:
    return [_param("TAG"), _param("IMAGE_TAG"), _param("A")]


@dataclass
class Workflow:
    name: str
    project: str = PROJECT
    statuses: List[Optional[str]] = field(default_factory=lambda: ["created", "running", "passed"])
    restart_statuses: Optional[List[Optional[str]]] = None  # None: the same sequence again
    stages: List[Stage] = field(default_factory=lambda: [_stage(s) for s in DEFAULT_STAGES])
    params: List[Dict[str, Any]] = field(default_factory=_default_params)
    forbidden: bool = False
    driven: bool = False  # the task follows its stages (approvals, manual execution), see ZadigFake._drive


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
    # custom tasks: [(stage, [job task])], the jobs that run (skipped ones are not there: ctrl:270-324)
    stages: List[Tuple[Stage, List[Dict[str, Any]]]] = field(default_factory=list)
    params: List[Dict[str, Any]] = field(default_factory=list)
    # driven tasks
    at: int = 0  # the stage running now
    started: bool = False  # the stage at `at` has been seen running
    final: Optional[str] = None
    executed: List[str] = field(default_factory=list)  # stages run by manual-exec
    decisions: Dict[str, bool] = field(default_factory=dict)  # approval job task → approved
    logs: Dict[str, str] = field(default_factory=dict)  # job task name → archived log

    def paused(self) -> Optional[Stage]:
        """The stage waiting for manual execution (workflow_manual_exec_openapi.go:134-140), if any."""
        if self.final or not self.workflow.driven or not self.stages:
            return None
        stage, _ = self.stages[self.at]
        return stage if stage.manual_exec and stage.name not in self.executed else None

    def shown(self) -> Optional[str]:
        """The status the last GET showed (the first one before any GET)."""
        if self.workflow.driven:
            if self.final:
                return self.final
            return "pause" if self.paused() else "running" if self.started or self.at else "created"
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
    """A Zadig HTTPError: errors:128-143 (6xxx/7xxx codes travel as HTTP 400)."""
    return json_reply(
        status, {"type": "error", "code": code, "message": message, "description": description, "extra": {}}
    )


def _internal(description: str) -> Reply:
    """Any other Go error: errors:145-150, HTTP 500 with the error text as the description."""
    return json_reply(500, {"message": "Internal Error: ", "code": 500, "description": description})


def _bad_request(description: str) -> Reply:
    """e.ErrInvalidParam.AddDesc(…): codes:25, HTTP 400 with code 400."""
    return _error(400, "Bad Request", description)


def _success() -> Reply:
    return json_reply(200, {"message": "success"})  # pkg/middleware/gin/response.go:50


def job_task_name(stage_index: int, job_index: int, sub_task: int, job: str) -> str:
    """controller/job/utils.go:92-110 GenJobName."""
    return f"job-{stage_index}-{job_index}-{sub_task}-{job}"


class ZadigFake(FakeServer):
    """Fake Zadig with both APIs; add workflows with add_workflow(…, custom=…)."""

    def __init__(self, token: str = FAKE_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.abbreviated_create = False  # answer legacy create with the seed's {"message":"success"}
        self.strict = True  # Zadig's own rules for inputs and parameters (see the module docstring)
        self.legacy_removed = False  # a v3.4.1+ server: the legacy workflow-task backend is gone
        self.registries: List[Dict[str, Any]] = [dict(REGISTRY)]
        self.legacy: Dict[str, Workflow] = {}
        self.custom: Dict[str, Workflow] = {}
        self.legacy_tasks: Dict[Tuple[str, int], Task] = {}
        self.custom_tasks: Dict[Tuple[str, int], Task] = {}
        self._next_id: Dict[Tuple[bool, str], int] = {}
        self._state = threading.Lock()
        # The public gateway's legacy routes: picket/core/public/handler/router.go:29-33.
        base = "/api/directory/workflowTask"
        task_path = base + r"/id/(?P<id>\d+)/pipelines/(?P<name>[^/]+)"
        self.route("GET", base)(self._legacy_list)
        self.route("POST", base + "/create")(self._legacy_create)
        self.route("GET", task_path)(self._legacy_get)
        self.route("POST", task_path + "/restart")(self._legacy_restart)
        self.route("POST", task_path + "/cancel")(self._legacy_cancel)
        # router:189-205 (custom := router.Group("custom") under /openapi/workflows, server/rest/router.go:109)
        custom = "/openapi/workflows/custom"
        named = custom + r"/(?P<name>[^/]+)"
        self.route("POST", custom + "/task")(self._custom_run)  # router:193
        self.route("GET", custom + "/task")(self._custom_get)  # router:194
        self.route("DELETE", custom + "/task")(self._custom_cancel)  # router:195
        self.route("POST", custom + "/task/approve")(self._custom_approve)  # router:196
        self.route("GET", named + "/detail")(self._custom_detail)  # router:199
        self.route("POST", named + r"/task/(?P<id>\d+)")(self._custom_retry)  # router:200
        self.route("POST", named + r"/task/(?P<id>\d+)/manual-exec")(self._custom_manual_exec)  # router:203
        self.route("GET", named + "/tasks")(self._custom_tasks)  # router:204
        # core/system/handler/router.go:635-641 and core/log/handler/router.go:52-63
        self.route("GET", "/openapi/system/registry")(self._registries)
        self.route("GET", r"/openapi/logs/log/v4/workflow/(?P<name>[^/]+)/(?P<id>[^/]+)/(?P<job>[^/]+)")(self._job_log)

    # -- set-up ------------------------------------------------------------------------------
    def add_workflow(
        self,
        name: str,
        statuses: Optional[List[Optional[str]]] = None,
        *,
        custom: bool = False,
        restart_statuses: Optional[List[Optional[str]]] = None,
        project: str = PROJECT,
        stages: Optional[Sequence[StageSpec]] = None,
        params: Optional[List[Dict[str, Any]]] = None,
        forbidden: bool = False,
        driven: bool = False,
    ) -> Workflow:
        workflow = Workflow(name, project, forbidden=forbidden, driven=driven)
        if statuses is not None:
            workflow.statuses = list(statuses)
        workflow.restart_statuses = restart_statuses
        if stages is not None:
            workflow.stages = [_stage(s) for s in stages]
        if params is not None:
            workflow.params = params
        (self.custom if custom else self.legacy)[name] = workflow
        return workflow

    def add_task(
        self, workflow: str, statuses: List[Optional[str]], *, custom: bool = False, commit_id: str = ""
    ) -> Task:
        """Put a task in place, as if it had been started earlier (custom: with every job as configured)."""
        with self._state:
            found = (self.custom if custom else self.legacy)[workflow]
            task = self._new_task(custom, found, statuses, {}, commit_id)
            if custom:
                made = self._job_tasks(found, task.task_id, None)
                if isinstance(made, Reply):  # inputs None: every job as configured, which never fails
                    raise ValueError(f"workflow {workflow} cannot start as configured: {made.body!r}")
                task.stages = made
                task.params = copy.deepcopy(found.params)
            return task

    def _take_id(self, custom: bool, workflow: Workflow) -> int:
        key = (custom, workflow.name)
        task_id = self._next_id.get(key, 1)
        self._next_id[key] = task_id + 1
        return task_id

    def _new_task(
        self,
        custom: bool,
        workflow: Workflow,
        statuses: List[Optional[str]],
        body: Dict[str, Any],
        commit_id: str = "",
        *,
        task_id: Optional[int] = None,
    ) -> Task:
        if task_id is None:
            task_id = self._take_id(custom, workflow)
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
    def _legacy_removed(self, request: Request) -> Reply:
        """A v3.4.1+ server (bf642e113 removed aslan's workflowtask routes; the commit lookup went in v1.18.0).

        The gateway still forwards: create and get hand aslan's failure back as a Go error, HTTP 500
        (picket/core/public/handler/public.go:49-52 → errors:145-150); restart and cancel turn any
        failure into HTTP 200 {resultCode, errorMsg} with resultCode 500 (public.go:80-100,
        picket/client/aslan/workflow.go:73-82: an error counts as status 500).
        """
        if request.method == "POST" and request.path.endswith(("/restart", "/cancel")):
            return json_reply(200, {"resultCode": 500, "errorMsg": "fail"})
        return _internal(f"{request.method} /api/aslan/workflow/workflowtask: 404 page not found")

    def _legacy_list(self, request: Request) -> Reply:
        denied = self._authorized(request)
        if denied:
            return denied
        if self.legacy_removed:
            return self._legacy_removed(request)
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
        if self.legacy_removed:
            return self._legacy_removed(request)
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

    def _legacy_change(self, request: Request) -> Tuple[Optional[Task], Optional[Reply]]:
        """The task a legacy restart/cancel names, or the reply instead. picket answers these with HTTP 200
        {resultCode: <aslan's HTTP status>, errorMsg: "success" | "forbidden" | "fail"}
        (picket/core/public/handler/public.go:80-124, the status from picket/client/aslan/workflow.go:73-96);
        for a task aslan does not have, the status taken here is 404 (not confirmed against a live server)."""
        task, denied = self._legacy_task(request)
        if denied is None and task is None:
            denied = json_reply(200, {"resultCode": 404, "errorMsg": "fail"})
        return task, denied

    def _legacy_task(self, request: Request) -> Tuple[Optional[Task], Optional[Reply]]:
        denied = self._authorized(request)
        if denied:
            return None, denied
        if self.legacy_removed:
            return None, self._legacy_removed(request)
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
            return _error(6161, "获取工作流任务失败", MONGO_NOT_FOUND)
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
        task, denied = self._legacy_change(request)
        if denied is not None or task is None:
            return denied or Reply(500)
        with self._state:
            if task.shown() not in RESTARTABLE:
                return json_reply(200, {"resultCode": 400, "errorMsg": "fail"})
            task.statuses = list(task.workflow.restart_statuses or task.workflow.statuses)
            task.index, task.is_restart = 0, True
        return json_reply(200, {"resultCode": 0, "errorMsg": "success"})

    def _legacy_cancel(self, request: Request) -> Reply:
        task, denied = self._legacy_change(request)
        if denied is not None or task is None:
            return denied or Reply(500)
        with self._state:
            if task.shown() in TERMINAL:
                return json_reply(200, {"resultCode": 400, "errorMsg": "fail"})
            task.statuses, task.index = ["cancelled"], 0
        return json_reply(200, {"resultCode": 0, "errorMsg": "success"})

    # -- custom workflows: starting a task -----------------------------------------------------
    def _custom_run(self, request: Request) -> Reply:  # noqa: PLR0911 - one answer per check, as Zadig's
        denied = self._authorized(request)
        if denied:
            return denied
        try:
            body = request.json()
        except ValueError as exc:  # handler:31-37: json.Unmarshal failure is ErrInvalidParam
            return _bad_request(str(exc))
        if not isinstance(body, dict):
            return _bad_request("json: cannot unmarshal into Go value of type OpenAPICreateCustomWorkflowTaskArgs")
        # openapi:43-47: the workflow is looked up by workflow_key alone, ErrFindWorkflow (codes:538).
        workflow = self.custom.get(str(body.get("workflow_key") or ""))
        if workflow is None:
            return _error(6542, "查询workflow失败", MONGO_NOT_FOUND)
        # handler:41-57: the token's user needs execute permission in project_key: else 403, no body.
        # (The fake's user has it in its own project only; `forbidden` workflows deny it.)
        if workflow.forbidden or body.get("project_key") != workflow.project:
            return Reply(403)
        params = copy.deepcopy(workflow.params)
        refused = self._set_params(params, body.get("parameters") or [])
        if refused:
            return refused
        inputs: Optional[Dict[str, Any]] = None
        if self.strict or body.get("inputs"):
            inputs = {}
            for entry in body.get("inputs") or []:  # openapi:69-72: keyed by job_name; job_type is not read
                if not isinstance(entry, dict):
                    return _bad_request("json: cannot unmarshal into Go struct field of type CreateCustomTaskJobInput")
                inputs[str(entry.get("job_name"))] = entry.get("parameters")
        with self._state:
            # task_v4:655-660: the task id is taken from the counter before the task is linted, so a
            # refused start still uses up an id.
            task_id = self._take_id(True, workflow)
            stages = self._job_tasks(workflow, task_id, inputs)
            if isinstance(stages, Reply):
                return stages
            if not stages:  # task_v4:3306-3311 workflowTaskLint
                description = f"no stage found in workflow task: {workflow.name},taskID: {task_id}"
                return _error(6160, "创建工作流任务失败", description)
            task = self._new_task(True, workflow, workflow.statuses, body, task_id=task_id)
            task.stages, task.params = stages, params
        return json_reply(
            200, {"project_name": workflow.project, "workflow_name": workflow.name, "task_id": task.task_id}
        )

    def _set_params(self, params: List[Dict[str, Any]], given: List[Any]) -> Optional[Reply]:
        """openapi:110-150 UpdateWorkflowParam: by name; an unknown name or a bad choice is a 500."""
        by_name = {p["name"]: p for p in params}
        for param in given:
            if not isinstance(param, dict) or "name" not in param:
                return _bad_request(f"bad parameter {param!r}")
            found = by_name.get(param["name"])
            if found is None:
                if self.strict:
                    return _internal(f"param {param['name']} not found in workflow")
                params.append({"name": param["name"], "value": param.get("value", "")})
                continue
            value = str(param.get("value", ""))
            if found["type"] == "choice" and value not in found.get("choice_option", []):
                return _internal(f"invalid choice value {value} for param {param['name']}")
            found["value"] = value
        return None

    def _job_tasks(
        self, workflow: Workflow, task_id: int, inputs: Optional[Dict[str, Any]]
    ) -> Union[List[Tuple[Stage, List[Dict[str, Any]]]], Reply]:
        """The stages and job tasks a start makes; inputs None: every job as configured.

        openapi:74-100: a job named in inputs gets its input applied (GetInputUpdater + UpdateJobSpec),
        every other job is skipped; ctrl:270-324 ToJobTasks: skipped jobs make no job task (a skipped
        force_run job is an error, ctrl:279-285) and a stage left without job tasks is dropped.
        """
        made: List[Tuple[Stage, List[Dict[str, Any]]]] = []
        for stage_index, stage in enumerate(workflow.stages):
            tasks: List[Dict[str, Any]] = []
            for job_index, job in enumerate(stage.jobs):
                if inputs is not None and job.name not in inputs:
                    if job.run_policy == "force_run":
                        return _internal(f"job {job.name} skipped, but the run policy is set to force run")
                    continue
                spec = copy.deepcopy(job.spec)
                if job.type == "zadig-build" and not spec.get("service_and_builds"):
                    # as configured: the defaults the run dialog preselects (job_build.go:229-241)
                    spec["service_and_builds"] = copy.deepcopy(spec.get("default_service_and_builds") or [])
                if inputs is not None:
                    if job.type not in INPUT_TYPES:  # openapi:414-415
                        return _internal(f"undefined job type of type:{job.type}")
                    applied = self._apply_input(job, spec, inputs[job.name])
                    if isinstance(applied, Reply):
                        return applied
                    spec = applied
                tasks.extend(self._expand(workflow, stage_index, job_index, job, spec))
            if tasks:
                made.append((stage, tasks))
        _ = task_id
        return made

    def _apply_input(self, job: Job, spec: Dict[str, Any], given: Any) -> Union[Dict[str, Any], Reply]:
        """Per job type, what UpdateJobSpec does with `parameters` (types.go), strict where Zadig is."""
        if given is None:
            given = {}
        if not isinstance(given, dict):  # commonmodels.IToi into the input struct fails
            return _internal(f"json: cannot unmarshal {type(given).__name__} into Go value of type {job.type} input")
        if job.type == "zadig-build":
            return self._apply_build(job, spec, given)
        if job.type == "zadig-deploy":
            return self._apply_deploy(job, spec, given)
        if job.type in ("plugin", "freestyle"):  # types:284-303 and the freestyle input: only named keys change
            values = {kv.get("key"): kv.get("value") for kv in given.get("kv") or []}
            for kv in spec.get("envs") or []:
                if kv.get("key") in values:
                    kv["value"] = values[kv["key"]]
            return spec
        return spec  # approval (openapi:399-401 ignores the input) and the types the fake does not model

    def _apply_build(self, job: Job, spec: Dict[str, Any], given: Dict[str, Any]) -> Union[Dict[str, Any], Reply]:
        """types:682-760 ZadigBuildJobInput.UpdateJobSpec."""
        fail = f"failed to update jobspec for job: {job.name}, err: "  # openapi:86-90
        registry = next(
            (r for r in self.registries if f"{r['address']}/{r['namespace']}" == given.get("registry")), None
        )
        if registry is None:
            return _internal(fail + "didn't find the specified image registry")
        spec["docker_registry_id"] = registry["registry_id"]
        chosen = []
        # types:715 walks the options (the workflow's preset fills them from the build configs).
        for option in spec.get("service_and_builds_options") or spec.get("service_and_builds") or []:
            for wanted in given.get("service_list") or []:
                if not isinstance(wanted, dict):
                    return _internal(fail + "bad service_list entry")
                if (wanted.get("service_name"), wanted.get("service_module")) == (
                    option.get("service_name"),
                    option.get("service_module"),
                ):
                    build = copy.deepcopy(option)
                    for repo_input in wanted.get("repo_info") or []:
                        for repo in build.get("repos") or []:
                            if (repo_input.get("repo_namespace"), repo_input.get("repo_name")) == (
                                repo.get("repo_namespace"),
                                repo.get("repo_name"),
                            ):
                                repo["branch"] = repo_input.get("branch", repo.get("branch"))
                                repo["pr"] = repo_input.get("pr", 0)
                    values = {kv.get("key"): kv.get("value") for kv in wanted.get("inputs") or []}
                    for kv in build.get("key_vals") or []:
                        if kv.get("key") in values:
                            kv["value"] = values[kv["key"]]
                    chosen.append(build)
        spec["service_and_builds"] = chosen  # types:756: only the services named run
        return spec

    def _apply_deploy(self, job: Job, spec: Dict[str, Any], given: Dict[str, Any]) -> Union[Dict[str, Any], Reply]:
        """types:762-811 ZadigDeployJobInput.UpdateJobSpec."""
        # env_name is "required" (types:763): an environment that is not there fails the task's
        # creation (ErrCreateTask from ToJobTasks, task_v4:704-708).
        # What ToTask then refuses (controller/job/job_deploy.go:421-435) fails the start with
        # ErrCreateTask (task_v4:704-708): an environment that is not there, no service to deploy.
        env = given.get("env_name") or ""
        if env not in ENVS:
            return _error(6160, "创建工作流任务失败", f"env {env} not exists")
        source = spec.get("source") or "runtime"
        if not given.get("service_list"):
            description = f"deploy service is empty for env {env}, source: {source}, env source: , from job name: "
            return _error(6160, "创建工作流任务失败", description)
        services: Dict[str, Dict[str, Any]] = {}
        for wanted in given.get("service_list") or []:
            # The fake's own strictness: a runtime deploy without an image is refused (a `fromjob` one
            # takes the images the build job it names made, job_deploy.go:438-470).
            if not isinstance(wanted, dict) or (source != "fromjob" and not wanted.get("image_name")):
                return _error(6160, "创建工作流任务失败", f"service {wanted!r} of job {job.name} has no image_name")
            service = services.setdefault(
                str(wanted.get("service_name")), {"service_name": wanted.get("service_name"), "modules": []}
            )
            service["modules"].append(
                {"service_module": wanted.get("service_module"), "image": wanted.get("image_name")}
            )
        spec["env"], spec["services"] = env, list(services.values())
        return spec

    def _expand(
        self, workflow: Workflow, stage_index: int, job_index: int, job: Job, spec: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """The job tasks one job makes (controller/job/job_*.go ToTask), named by GenJobName."""

        def task(sub: int, parts: Sequence[str], task_spec: Dict[str, Any]) -> Dict[str, Any]:
            return {  # controller/job/utils.go:82-90: display name joins with "-", key with "."
                "name": job_task_name(stage_index, job_index, sub, job.name),
                "key": ".".join([job.name, *parts]),
                "display_name": "-".join([job.name, *parts]),
                "origin_name": job.name,
                "type": job.type,
                "status": "",
                "error": "",
                "spec": task_spec,
            }

        if job.type == "zadig-build":  # job_build.go:377-383, one per service: "<job>-<service>-<module>"
            builds = spec.get("service_and_builds") or []
            return [
                task(n, [b["service_name"], b["service_module"]], {"service_name": b["service_name"]})
                for n, b in enumerate(builds)
            ]
        if job.type == "zadig-deploy":  # job_deploy.go:568, one per service: "<job>-<service>"
            return [
                task(n, [s["service_name"]], {"env": spec.get("env"), **s})
                for n, s in enumerate(spec.get("services") or [])
            ]
        if job.type == "approval":  # job_approval.go:169-171; spec: models/wokflow_task_v4.go:694-704
            return [task(0, [], copy.deepcopy(spec))]
        return [task(0, [], spec)]  # job_freestyle.go:577, job_plugin.go:129

    # -- custom workflows: reading and acting on a task ------------------------------------------
    def _custom_task(
        self, request: Request, name: Optional[str], task_id: Optional[str]
    ) -> Tuple[Optional[Task], Optional[Reply]]:
        denied = self._authorized(request)
        if denied:
            return None, denied
        if not name or not task_id or not task_id.isdigit():
            return None, _bad_request("taskId and workflowKey are required")
        workflow = self.custom.get(name)
        if workflow is not None and workflow.forbidden:
            return None, Reply(403)
        return self.custom_tasks.get((name, int(task_id))), None

    def _custom_get(self, request: Request) -> Reply:
        task, failed = self._custom_task(request, request.arg("workflowKey"), request.arg("taskId"))
        if failed:
            return failed
        if task is None:  # task_v4:2553-2558: the mongo error as it is, so HTTP 500
            return _internal(MONGO_NOT_FOUND)
        with self._state:
            if task.workflow.driven:
                self._drive(task)
                status: Optional[str] = task.shown()
                stages = self._driven_stages(task)
            else:
                status, running = task.advance()
                stages = self._scripted_stages(task, status, running)
        answer: Dict[str, Any] = {  # task_v4:92-113 WorkflowTaskPreview
            "task_id": task.task_id,
            "workflow_key": task.workflow.name,
            "workflow_name": task.workflow.name,
            "params": copy.deepcopy(task.params),
            "reverted": False,
            "remark": "",
            "task_creator": USER["user_name"],
            "create_time": task.created,
            "start_time": task.created + 1,
            "stages": stages,
            "project_key": task.workflow.project,
            "is_restart": task.is_restart,
            "debug": False,
            "approval_ticket_id": "",
            "approval_id": "",
        }
        if status is not None:  # status is `json:"status,omitempty"`
            answer["status"] = status
        if status in ENDED:
            answer["end_time"] = task.created + 30
        return json_reply(200, answer)

    @staticmethod
    def _stage_json(stage: Stage, status: str, jobs: List[Dict[str, Any]]) -> Dict[str, Any]:
        """task_v4:115-124 StageTaskPreview."""
        manual = {"enabled": True, "modify_params": False, "manual_exec_users": [USER]} if stage.manual_exec else None
        return {"name": stage.name, "status": status, "parallel": stage.parallel, "manual_exec": manual,
                "jobs": jobs, "error": ""}  # fmt: skip

    def _scripted_stages(self, task: Task, status: Optional[str], running: int) -> List[Dict[str, Any]]:
        """Stage and job statuses derived from the scripted task status."""
        stages = []
        count = len(task.stages)
        # The stage reached after `running` running polls holds the task's status; the ones before it passed.
        current = max(min(running, count - 1), 0)
        for number, (stage, jobs) in enumerate(task.stages):
            if status == "passed" or number < current:
                stage_status = "passed"
            elif status == "skipped" or (number == current and (status == "running" or status in TERMINAL)):
                stage_status = str(status)
            else:
                stage_status = ""
            shown = [_timed(job, stage_status, task.created) for job in jobs]
            stages.append(self._stage_json(stage, stage_status, shown))
            for job in shown:
                if stage_status in ENDED:
                    task.logs.setdefault(job["name"], f"[{job['display_name']}] {stage_status}\n")
        return stages

    def _drive(self, task: Task) -> None:
        """One step of a driven task: each stage shows running once, then passes; a stage with manual
        execution waits in `pause` (the task too: workflowcontroller/stage.go:90-111) until manual-exec;
        an approval job waits in `wait_for_approval` (the task stays running) until approved."""
        if task.final:
            return
        _, jobs = task.stages[task.at]
        if task.paused():
            return
        if not task.started:
            task.started = True
            return
        if any(job["type"] == "approval" and job["name"] not in task.decisions for job in jobs):
            return
        for job in jobs:
            task.logs.setdefault(job["name"], f"[{job['display_name']}] passed\n")
        task.at, task.started = task.at + 1, False
        if task.at >= len(task.stages):
            task.at, task.final = len(task.stages) - 1, "passed"
            task.started = True

    def _driven_stages(self, task: Task) -> List[Dict[str, Any]]:
        stages = []
        paused = task.paused()
        for number, (stage, jobs) in enumerate(task.stages):
            if task.final == "passed" or number < task.at:
                stage_status, job_status = "passed", lambda job: "passed"
            elif number > task.at:
                stage_status, job_status = "", lambda job: ""
            elif paused is not None:
                stage_status, job_status = "pause", lambda job: ""
            elif task.final:
                stage_status = task.final

                def job_status(job: Dict[str, Any], final: str = task.final) -> str:
                    return final if job["type"] == "approval" or final != "reject" else "passed"

            elif task.started:
                stage_status = "running"

                def job_status(job: Dict[str, Any]) -> str:
                    if job["type"] != "approval":
                        return "running"
                    return "passed" if task.decisions.get(job["name"]) else "wait_for_approval"

            else:
                stage_status, job_status = "", lambda job: ""
            shown = [_timed(job, job_status(job), task.created) for job in jobs]
            stages.append(self._stage_json(stage, stage_status, shown))
        return stages

    def _custom_cancel(self, request: Request) -> Reply:
        task, failed = self._custom_task(request, request.arg("workflowKey"), request.arg("taskId"))
        if failed:
            return failed
        if task is None:  # workflowcontroller/workflow.go:107-110, wrapped by task_v4:2545-2549
            return _error(6163, "取消工作流任务失败", MONGO_NOT_FOUND)
        with self._state:
            # workflowcontroller/workflow.go:119-122: only a passed task cannot be cancelled.
            if task.shown() == "passed":
                description = f"task: {task.workflow.name}:{task.task_id} is passed, cannot cancel"
                return _error(6163, "取消工作流任务失败", description)
            task.statuses, task.index, task.final = ["cancelled"], 0, "cancelled"
        return _success()

    def _custom_retry(self, request: Request) -> Reply:
        name = unquote(request.params["name"])
        task, failed = self._custom_task(request, name, request.params["id"])
        if failed:
            return failed
        if task is None:  # task_v4:1066-1070
            return _error(6161, "获取工作流任务失败", MONGO_NOT_FOUND)
        with self._state:
            if task.shown() not in RESTARTABLE:  # task_v4:1071-1075, errors.New: HTTP 500
                return _internal("工作流任务状态无法重试")
            task.statuses = list(task.workflow.restart_statuses or task.workflow.statuses)
            task.index, task.is_restart = 0, True
            task.at, task.started, task.final, task.decisions = 0, False, None, {}
        return _success()

    def _custom_approve(self, request: Request) -> Reply:  # noqa: PLR0911 - one answer per check, as Zadig's
        """handler:485-508 → task_v4:2596-2617 → workflowcontroller/stage.go:80-88 → approval/approval.go:84-121.

        `stage_name` carries the approval job task's name (handler:507 passes it as jobName); the
        approval waiting for it is keyed "<workflow>-<job task>-<task id>"; errors are ErrApproveTask (6169).
        """
        denied = self._authorized(request)
        if denied:
            return denied
        try:
            body = request.json()
        except ValueError as exc:
            return _internal(f"failed to unmarshal request data, error: {exc}")
        if not isinstance(body, dict):
            return _internal("failed to unmarshal request data, error: not an object")
        workflow, job, task_id = body.get("workflow_key") or "", body.get("stage_name") or "", body.get("task_id") or 0
        if not workflow or not job or not task_id:
            description = f"can not find approved workflow: {workflow}, taskID: {task_id},jobName: {job}"
            return _error(6169, "批准工作流任务失败", description)
        with self._state:
            task = self.custom_tasks.get((str(workflow), int(task_id)))
            waiting = None
            if task is not None and task.workflow.driven and not task.final and task.started:
                _, jobs = task.stages[task.at]
                waiting = next(
                    (j for j in jobs if j["type"] == "approval" and j["name"] == job and job not in task.decisions),
                    None,
                )
            if waiting is None:
                return _error(6169, "批准工作流任务失败", "not found approval")
            users = ((waiting.get("spec") or {}).get("native_approval") or {}).get("approve_users") or []
            if not any(u.get("user_id") == USER["user_id"] for u in users):
                return _error(6169, "批准工作流任务失败", f"user {USER['user_name']} has no authority to Approve")
            approve = bool(body.get("approve"))
            assert task is not None  # waiting is only found on a task
            task.decisions[job] = approve
            if not approve:
                task.final = "reject"
        return _success()

    def _custom_manual_exec(self, request: Request) -> Reply:  # noqa: PLR0911 - one answer per check, as Zadig's
        """handler:354-392 → workflow_manual_exec_openapi.go:68-132 (v5.0.0+)."""
        denied = self._authorized(request)
        if denied:
            return denied
        name, project = unquote(request.params["name"]), request.arg("projectKey") or ""
        if not project:
            return _bad_request("projectKey is required")
        try:
            body = request.json()
        except ValueError as exc:
            return _bad_request(str(exc))
        stage_name = body.get("stage_name") if isinstance(body, dict) else None
        if not stage_name:
            return _bad_request("stage_name is required")
        with self._state:
            task = self.custom_tasks.get((name, int(request.params["id"])))
            if task is None:
                return _error(6161, "获取工作流任务失败", MONGO_NOT_FOUND)
            if task.workflow.project != project:
                return _internal(f"workflow task project {task.workflow.project} does not match projectKey {project}")
            if not any(stage.name == stage_name for stage in task.workflow.stages):
                return _internal(f"stage {stage_name} not found in workflow {name}")
            paused = task.paused()
            if paused is None:
                return _internal("工作流任务状态无法手动执行")
            if paused.name != stage_name:
                return _internal(f"stage {stage_name} is not waiting for manual execution")
            task.executed.append(stage_name)
            task.started = True
        return _success()

    # -- custom workflows: definitions and lists -----------------------------------------------
    def _custom_detail(self, request: Request) -> Reply:
        """handler:276-292 → openapi:423-455 (OpenAPIWorkflowV4Detail, types:1637-1651)."""
        denied = self._authorized(request)
        if denied:
            return denied
        project = request.arg("projectKey") or ""
        if not project:
            return _bad_request("projectKey is required")
        workflow = self.custom.get(unquote(request.params["name"]))
        if workflow is None:  # openapi:424-427: the mongo error as it is
            return _internal(MONGO_NOT_FOUND)
        if workflow.forbidden:
            return Reply(403)
        return json_reply(
            200,
            {
                "workflow_key": workflow.name,
                "workflow_name": workflow.name,
                "project_key": project,  # openapi:432: the query's projectKey, whatever the workflow's
                "description": "",
                "created_by": USER["user_name"],
                "create_time": 1700000000,
                "updated_by": USER["user_name"],
                "update_time": 1700000000,
                "params": copy.deepcopy(workflow.params),
                "stages": [  # OpenAPIStage (types:1669-1673): name, parallel (omitempty), jobs
                    {
                        "name": s.name,
                        **({"parallel": True} if s.parallel else {}),
                        "jobs": [j.as_json() for j in s.jobs],
                    }
                    for s in workflow.stages
                ],
                "notify_ctls": [],
                "share_storages": [],
                "concurrency_limit": -1,
            },
        )

    def _custom_tasks(self, request: Request) -> Reply:
        """handler:465-483 → openapi:524-558: {total, workflow_tasks}, newest first, pageNum/pageSize (1, 10)."""
        denied = self._authorized(request)
        if denied:
            return denied
        name = unquote(request.params["name"])
        try:  # types:1773-1777, bound by gin's BindQuery: a non-number is ErrInvalidParam
            page = int(request.arg("pageNum") or 1)
            size = int(request.arg("pageSize") or 10)
        except ValueError as exc:
            return _bad_request(str(exc))
        project = request.arg("projectKey") or ""
        with self._state:
            found = sorted(
                (t for (wf, _), t in self.custom_tasks.items() if wf == name and t.workflow.project == project),
                key=lambda t: t.task_id,
                reverse=True,
            )
            listed = [
                {
                    "workflow_key": t.workflow.name,
                    "workflow_name": t.workflow.name,
                    "project_key": project,
                    "task_id": t.task_id,
                    "create_time": t.created,
                    "task_creator": USER["user_name"],
                    "start_time": t.created + 1,
                    "end_time": t.created + 30 if t.shown() in ENDED else 0,
                    "status": (t.shown() or "").lower(),
                }
                for t in found
            ]
        start = max(page - 1, 0) * size
        return json_reply(200, {"total": len(listed), "workflow_tasks": listed[start : start + size]})

    def _registries(self, request: Request) -> Reply:
        """core/system/handler/openapi.go:87-109 (OpenAPIRegistry, core/system/service/types.go:212-219)."""
        denied = self._authorized(request)
        if denied:
            return denied
        return json_reply(200, [dict(r) for r in self.registries])

    def _job_log(self, request: Request) -> Reply:
        """core/log/handler/log.go:125-136 → core/log/service/log.go:40-89: the archived log as plain
        text, "" while there is none (IgnoreNotExistError); the workflow name is lower-cased."""
        denied = self._authorized(request)
        if denied:
            return denied
        try:
            task_id = int(request.params["id"])
        except ValueError:
            return _bad_request("invalid task id")
        name = unquote(request.params["name"]).lower()
        with self._state:
            task = next((t for (wf, n), t in self.custom_tasks.items() if wf.lower() == name and n == task_id), None)
            text = task.logs.get(unquote(request.params["job"]), "") if task is not None else ""
        return Reply(200, text, {"Content-Type": "text/plain; charset=utf-8"})


def build_deploy_approve_stages() -> List[Stage]:
    """`deploy-dev`: build two services, wait for an approval, deploy them to dev."""
    repo = {"source": "gitlab", "repo_owner": "shop", "repo_namespace": "shop", "repo_name": "", "branch": "main",
            "codehost_id": 1}  # fmt: skip
    builds = [
        {"service_name": name, "service_module": name, "build_name": f"{name}-build",
         "repos": [dict(repo, repo_name=name)], "key_vals": [{"key": "GOFLAGS", "value": ""}]}
        for name in ("api", "web")
    ]  # fmt: skip
    # As a v3.2.0+ server stores it (job_build.go:279-282): the preselected services in
    # default_service_and_builds, the choices in service_and_builds_options, no selection.
    build = Job("build", "zadig-build", {"docker_registry_id": REGISTRY["registry_id"], "service_and_builds": [],
                                          "default_service_and_builds": builds, "service_and_builds_options": builds,
                                          "source": "runtime"})  # fmt: skip
    approval = Job("approve", "approval", {
        "timeout": 60, "type": "native", "description": "release to dev",
        "native_approval": {"timeout": 60, "approve_users": [dict(USER)], "needed_approvers": 1},
    })  # fmt: skip
    services = [
        {"service_name": name, "modules": [{"service_module": name, "image": f"registry.example.com/shop/{name}:1.4.1",
                                            "image_name": name}]}
        for name in ("api", "web")
    ]  # fmt: skip
    deploy = Job("deploy", "zadig-deploy", {"env": "dev", "production": False, "source": "runtime",
                                             "services": services})  # fmt: skip
    return [Stage("build", [build]), Stage("approval", [approval]), Stage("deploy", [deploy])]


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
    fake.add_workflow("deploy-dev", custom=True, stages=build_deploy_approve_stages(), driven=True)
    release = [Stage("build", [Job("build-api")]), Stage("go-live", [Job("switch-traffic")], manual_exec=True)]
    fake.add_workflow("release", custom=True, stages=release, driven=True)
    fake.add_workflow("wf-skipped", ["running", "skipped"], custom=True)
    fake.add_workflow("wf-jira", custom=True, stages=[("track", [Job("jira-update", "jira")])])
    fake._next_id[(False, "demo-workflow-dev")] = 49
    fake.add_task("demo-workflow-dev", ["passed"], commit_id=SEED_COMMIT)
    fake._next_id[(False, "demo-workflow-flaky")] = 12
    fake.add_task("demo-workflow-flaky", ["failed"], commit_id=SEED_COMMIT)
    return fake


def env_for(url: str) -> Dict[str, str]:
    """What scripts/zadig.py needs to talk to the fake."""
    return {"ZADIG_URL": url, "ZADIG_TOKEN": FAKE_TOKEN}


def _timed(job: Dict[str, Any], status: str, created: int) -> Dict[str, Any]:
    """A job task with its status and times, as JobTaskPreview has them (workflow_task_v4.go:134-136):
    start_time and end_time (epoch seconds, omitempty: absent until set) and cost_seconds."""
    out = dict(job, status=status)
    if status and status not in ("prepare", "waiting"):
        out["start_time"] = created + 1
    if status in ENDED:
        out["end_time"] = created + 30
    out["cost_seconds"] = out["end_time"] - out["start_time"] if "end_time" in out and "start_time" in out else 0
    return out


def fixtures(fake: ZadigFake) -> Dict[str, Any]:
    """What this fake holds (the `cirelay-emulators fixtures` entry): read from its state, not restated."""

    def workflows(found: Dict[str, Workflow]) -> Dict[str, Any]:
        return {
            name: {
                "project": wf.project,
                "statuses": list(wf.statuses),
                "stages": [{"name": s.name, "jobs": [j.name for j in s.jobs]} for s in wf.stages],
                "params": [p["name"] for p in wf.params],
                **({"forbidden": True} if wf.forbidden else {}),
            }
            for name, wf in sorted(found.items())
        }

    with fake._state:
        projects = sorted({wf.project for wf in (*fake.legacy.values(), *fake.custom.values())})
        return {
            "credentials": {"token": fake.token},
            "projects": projects,
            "envs": list(ENVS),
            "seed_commit": SEED_COMMIT,
            "custom_workflows": workflows(fake.custom),
            "legacy_workflows": workflows(fake.legacy),
            "legacy_tasks": [
                {"workflow": wf, "task_id": task_id, "status": task.statuses[-1], "commit_id": task.commit_id}
                for (wf, task_id), task in sorted(fake.legacy_tasks.items())
            ],
            "registries": [dict(r) for r in fake.registries],
        }
