"""Fake Huawei Cloud CodeArts Pipeline (v5 API + v3 templates) and IAM token endpoint.

Shapes follow the CodeArts Pipeline API reference (seed: codearts-pipeline-api.txt) and the
models of huaweicloud-sdk-python-v3 (huaweicloudsdkcodeartspipeline/v2):

    POST /v3/auth/tokens                                   IAM password login -> 201 + X-Subject-Token
    POST /v5/{project}/api/pipelines/list                  {offset, limit, total, pipelines:[…]}
    GET  /v5/{project}/api/pipelines/{id}                  {id, name, sources:[{type, params}], …}
    POST /v5/{project}/api/pipelines/{id}/run              {sources, variables, description} -> {pipeline_run_id}
    GET  /v5/{project}/api/pipelines/{id}/pipeline-runs/detail?pipeline_run_id=R
                                                           {id, status, stages:[{jobs:[{steps:[…]}]}], …}
    POST /v5/{project}/api/pipelines/{id}/pipeline-runs/list            {offset, limit, total, pipeline_runs}
    POST /v5/{project}/api/pipelines/{id}/pipeline-runs/{R}/stop        {success: true}
    POST /v5/{project}/api/pipelines/{id}/pipeline-runs/{R}/jobs/{J}/steps/{S}/logs
                                                           {log, start_offset, end_offset, has_more, …}
    POST /v3/templates/task                                {flow, states, workflow} -> {task_id}
    GET  /v3/templates/{task_id}/status                    {task_id, task_status, pipeline_id, …}

Errors are {error_code, error_msg}. Every CodeArts route wants either an X-Auth-Token the fake
issued or knows (`tokens`), or an SDK-HMAC-SHA256 signature made with a key pair in `keys`
(verified here independently of the script: canonical request, X-Sdk-Date within 15 minutes).

Runs move through scripted status sequences: each pipeline has a `script` (e.g. QUEUED, RUNNING,
COMPLETED); every GET of a run's detail returns the current step and moves to the next, the last
one sticks. Stage, job and step statuses are derived from it. `set_script(pipeline_id, [...])`
changes what the next runs do; `stop` turns a running run CANCELED. Lists are capped at
`page_cap` items a page and logs at `log_page_lines` lines a page, so clients must page.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote, unquote

from tests.fakes.base import FakeServer, Reply, Request, json_reply

PROJECT_ID = "5c1a7d3e9b2f4e6a8d0c1b2a3f4e5d6c"
TOKEN = "fake-codearts-token-7f3a"
AK = "CIRELAYFAKEAK0000001"
SK = "fake-secret-key-do-not-use-9e8d7c"
USERNAME, PASSWORD, DOMAIN = "ci-bot", "fake-password-5b4a", "cirelay-demo"
BASE_MS = 1_700_000_000_000

TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "IGNORED")
ACTIVE = ("RUNNING", "PAUSED", "SUSPEND")

Stages = List[Tuple[str, List[Tuple[str, List[str]]]]]  # [(stage, [(job, [step, …]), …]), …]


def _id(*parts: str) -> str:
    return hashlib.md5("/".join(parts).encode()).hexdigest()


def _error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"error_code": code, "error_msg": message})


class FakeCodeArts(FakeServer):
    """CodeArts Pipeline + IAM on one port; state in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.project_id = PROJECT_ID
        self.tokens = {TOKEN}
        self.keys = {AK: SK}
        self.users = {(DOMAIN, USERNAME): PASSWORD}
        self.page_cap = 2
        self.log_page_lines = 3
        self.pipelines: Dict[str, Dict[str, Any]] = {}
        self.runs: Dict[str, Dict[str, Any]] = {}
        self.templates: Dict[str, Dict[str, Any]] = {}
        self.template_script = ["initializing", "processing", "succeeded"]
        self.auth_failures: List[str] = []
        self._state = threading.Lock()
        self._clock = 0
        self._routes_()

    # -- data ---------------------------------------------------------------------------------
    def add_pipeline(self, name: str, stages: Stages, script: List[str]) -> str:
        pipeline_id = _id("pipeline", name)
        self.pipelines[pipeline_id] = {
            "id": pipeline_id,
            "name": name,
            "stages": stages,
            "script": list(script),
            "create_time": self._tick(),
            "sources": [
                {
                    "type": "code",
                    "params": {
                        "git_type": "codehub",
                        "codehub_id": "2111677704",
                        "default_branch": "master",
                        "git_url": f"https://codehub.example.test/demo/{name}.git",
                        "endpoint_id": None,
                        "alias": None,
                    },
                }
            ],
        }
        return pipeline_id

    def set_script(self, pipeline_id: str, script: List[str]) -> None:
        """The status sequence the next runs of this pipeline go through."""
        self.pipelines[pipeline_id]["script"] = list(script)

    def pipeline_id(self, name: str) -> str:
        return next(p["id"] for p in self.pipelines.values() if p["name"] == name)

    def new_run(self, pipeline_id: str, body: Optional[Dict[str, Any]] = None) -> str:
        pipeline = self.pipelines[pipeline_id]
        run_id = uuid.uuid4().hex
        self.runs[run_id] = {
            "id": run_id,
            "pipeline_id": pipeline_id,
            "script": list(pipeline["script"]),
            "index": 0,
            "stopped_at": None,
            "body": body or {},
            "run_number": 1 + sum(1 for r in self.runs.values() if r["pipeline_id"] == pipeline_id),
            "start_time": self._tick(),
            "ids": {},
        }
        return run_id

    def _tick(self) -> int:
        self._clock += 1
        return BASE_MS + self._clock * 60_000

    # -- run state ------------------------------------------------------------------------------
    def _status(self, run: Dict[str, Any]) -> Tuple[str, int]:
        """The run's status and the index of its current stage."""
        upto = run["script"][: run["index"] + 1]
        status = upto[-1]
        active = sum(1 for s in upto if s in ACTIVE)
        stopped = run["stopped_at"]
        if stopped is not None:
            status = "CANCELED"
            active = stopped
        n = len(self.pipelines[run["pipeline_id"]]["stages"])
        return status, min(max(active - 1, 0), n - 1)

    def _stage_statuses(self, run: Dict[str, Any]) -> List[str]:
        status, current = self._status(run)
        n = len(self.pipelines[run["pipeline_id"]]["stages"])
        if status in ("INIT", "QUEUED"):
            return ["INIT"] * n
        if status in ("COMPLETED", "IGNORED"):
            return [status] * n
        return ["COMPLETED" if i < current else status if i == current else "INIT" for i in range(n)]

    def _run_ids(self, run: Dict[str, Any], *parts: str) -> str:
        key = "/".join(parts)
        return run["ids"].setdefault(key, _id(run["id"], key))

    def _detail(self, run: Dict[str, Any]) -> Dict[str, Any]:
        pipeline = self.pipelines[run["pipeline_id"]]
        status, _ = self._status(run)
        stage_statuses = self._stage_statuses(run)
        stages = []
        for s_index, (stage_name, jobs) in enumerate(pipeline["stages"]):
            s_status = stage_statuses[s_index]
            job_list = []
            for j_index, (job_name, steps) in enumerate(jobs):
                job_list.append(
                    {
                        "id": self._run_ids(run, stage_name, job_name),
                        "category": None,
                        "sequence": j_index,
                        "async": False,
                        "name": job_name,
                        "identifier": f"JOB_{j_index}",
                        "depends_on": [],
                        "condition": "${{ completed() }}",
                        "resource": None,
                        "is_select": True,
                        "timeout": "",
                        "last_dispatch_id": None,
                        "status": s_status,
                        "message": "step failed" if s_status == "FAILED" else None,
                        "start_time": run["start_time"],
                        "end_time": run["start_time"] + 30_000 if s_status in TERMINAL else None,
                        "steps": [
                            {
                                "id": self._run_ids(run, stage_name, job_name, step_name),
                                "name": step_name,
                                "task": "official_shell_plugin",
                                "business_type": "Normal",
                                "inputs": [],
                                "sequence": k,
                                "official_task_version": "0.0.1",
                                "identifier": f"STEP_{k}",
                                "multi_step_editable": 0,
                                "status": s_status,
                                "message": None,
                                "start_time": run["start_time"],
                                "end_time": None,
                            }
                            for k, step_name in enumerate(steps)
                        ],
                        "exec_id": None,
                    }
                )
            stages.append(
                {
                    "id": self._run_ids(run, stage_name),
                    "category": None,
                    "name": stage_name,
                    "identifier": f"STAGE_{s_index}",
                    "run_always": False,
                    "parallel": None,
                    "is_select": True,
                    "sequence": s_index,
                    "depends_on": [],
                    "condition": None,
                    "status": s_status,
                    "start_time": run["start_time"],
                    "end_time": None,
                    "pre": [],
                    "post": [],
                    "jobs": job_list,
                }
            )
        return {
            "id": run["id"],
            "pipeline_id": run["pipeline_id"],
            "manifest_version": "3.0",
            "name": pipeline["name"],
            "description": run["body"].get("description") or "",
            "is_publish": False,
            "executor_id": _id("user", USERNAME),
            "executor_name": USERNAME,
            "status": status,
            "trigger_type": "Manual",
            "run_number": run["run_number"],
            "start_time": run["start_time"],
            "end_time": run["start_time"] + 90_000 if status in TERMINAL else 0,
            "stages": stages,
            "domain_id": _id("domain", DOMAIN),
            "project_id": self.project_id,
            "region": "cn-north-4",
            "component_id": "",
            "language": "en-us",
            "sources": run["body"].get("sources") or pipeline["sources"],
            "artifacts": [],
            "subject_id": run["id"],
            "detail_url": self._detail_url(run),
        }

    def _detail_url(self, run: Dict[str, Any]) -> str:
        return (
            "https://devcloud.cn-north-4.huaweicloud.example/cicd/project/"
            f"{self.project_id}/pipeline/detail/{run['pipeline_id']}/{run['id']}?v=1"
        )

    def _summary(self, run: Dict[str, Any]) -> Dict[str, Any]:
        pipeline = self.pipelines[run["pipeline_id"]]
        status, _ = self._status(run)
        build = ((run["body"].get("sources") or [{}])[0].get("params") or {}).get("build_params") or {}
        return {
            "pipeline_id": run["pipeline_id"],
            "pipeline_run_id": run["id"],
            "executor_id": _id("user", USERNAME),
            "executor_name": USERNAME,
            "stage_status_list": [
                {"name": name, "sequence": i, "status": st, "start_time": None, "end_time": None}
                for i, ((name, _jobs), st) in enumerate(zip(pipeline["stages"], self._stage_statuses(run)))
            ],
            "status": status,
            "run_number": run["run_number"],
            "trigger_type": "Manual",
            "build_params": {
                "build_type": build.get("build_type", "branch"),
                "target_branch": build.get("target_branch", "master"),
                "tag": build.get("tag"),
                "event_type": "Manual",
            },
            "artifact_params": None,
            "start_time": run["start_time"],
            "end_time": run["start_time"] + 90_000 if status in TERMINAL else 0,
            "detail_url": self._detail_url(run),
            "modify_url": None,
        }

    def _log_text(self, run: Dict[str, Any], job: str, step: str) -> str:
        variables = ", ".join(f"{v.get('name')}={v.get('value')}" for v in run["body"].get("variables") or [])
        lines = [
            f"[2023/11/24 21:49:3{i} GMT+08:00] [INFO] [{step}] {text}\n"
            for i, text in enumerate(
                [
                    "step begins",
                    f"job {job}, run {run['run_number']}",
                    f"variables: {variables or 'none'}",
                    "doing the work",
                    "still working",
                    "step ends",
                ]
            )
        ]
        return "".join(lines)

    # -- auth -----------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> Optional[Reply]:
        """None when the request carries a known token or a valid signature, else the 401."""
        token = request.headers.get("x-auth-token")
        if token:
            if token in self.tokens:
                return None
            self.auth_failures.append("unknown token")
            return _error(401, "APIGW.0307", "The token must be updated.")
        header = request.headers.get("authorization", "")
        if header.startswith("SDK-HMAC-SHA256 "):
            problem = self._check_signature(request, header)
            if problem is None:
                return None
            self.auth_failures.append(problem)
            return _error(401, "APIGW.0301", f"Incorrect IAM authentication information: {problem}")
        self.auth_failures.append("no credentials")
        return _error(401, "APIGW.0301", "Incorrect IAM authentication information: no token or signature")

    def _check_signature(self, request: Request, header: str) -> Optional[str]:  # noqa: PLR0911 - one reason each
        fields = dict(re.findall(r"(\w+)=([^,\s]+)", header))
        sk = self.keys.get(fields.get("Access", ""))
        if sk is None:
            return "unknown access key"
        date = request.headers.get("x-sdk-date", "")
        try:
            signed_at = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return "missing or malformed X-Sdk-Date"
        if abs(time.time() - signed_at) > 15 * 60:
            return "X-Sdk-Date more than 15 minutes away"
        names = fields.get("SignedHeaders", "").split(";")
        if "host" not in names or "x-sdk-date" not in names:
            return "host and x-sdk-date must be signed"
        if any(name not in request.headers for name in names):
            return "a signed header is missing"
        path = "/".join(quote(seg, safe="~") for seg in unquote(request.path).split("/"))
        pairs = sorted((k, v) for k, values in request.query.items() for v in values)
        canonical = "\n".join(
            [
                request.method,
                path if path.endswith("/") else path + "/",
                "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs),
                "".join(f"{n}:{request.headers[n].strip()}\n" for n in names),
                ";".join(names),
                hashlib.sha256(request.body).hexdigest(),
            ]
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(sk.encode(), f"SDK-HMAC-SHA256\n{date}\n{digest}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return "signature mismatch"
        return None

    # -- routes ---------------------------------------------------------------------------------
    def _routes_(self) -> None:
        api = r"/v5/(?P<project>[^/]+)/api/pipelines"
        pipe = api + r"/(?P<pipeline>[^/]+)"
        run = pipe + r"/pipeline-runs/(?P<run>[^/]+)"
        self.route("POST", "/v3/auth/tokens")(self._login)
        self.route("POST", api + "/list")(self._guard(self._list_pipelines))
        self.route("GET", pipe)(self._guard(self._get_pipeline))
        self.route("POST", pipe + "/run")(self._guard(self._start))
        self.route("GET", pipe + "/pipeline-runs/detail")(self._guard(self._get_run))
        self.route("POST", pipe + "/pipeline-runs/list")(self._guard(self._list_runs))
        self.route("POST", run + "/stop")(self._guard(self._stop))
        self.route("POST", run + r"/jobs/(?P<job>[^/]+)/steps/(?P<step>[^/]+)/logs")(self._guard(self._logs))
        self.route("POST", "/v3/templates/task")(self._guard(self._template_create))
        self.route("GET", r"/v3/templates/(?P<task>[^/]+)/status")(self._guard(self._template_status))

    def _guard(self, handler: Any) -> Any:
        def guarded(request: Request) -> Reply:
            refused = self._authorized(request)
            if refused is not None:
                return refused
            project = request.params.get("project")
            if project is not None and project != self.project_id:
                return _error(404, "DEVPIPE.00011101", f"project {project} does not exist")
            pipeline_id = request.params.get("pipeline")
            if pipeline_id is not None and pipeline_id not in self.pipelines:
                return _error(404, "DEVPIPE.00011104", "the pipeline does not exist")
            with self._state:
                return handler(request)

        return guarded

    def _login(self, request: Request) -> Reply:
        try:
            auth = request.json()["auth"]
            user = auth["identity"]["password"]["user"]
            key = (user["domain"]["name"], user["name"])
            password = user["password"]
        except (KeyError, TypeError, ValueError):
            return json_reply(400, {"error": {"code": 400, "message": "The request body is invalid.", "title": "Bad"}})
        if self.users.get(key) != password:
            return json_reply(
                401, {"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}}
            )
        token = f"MIIfake{uuid.uuid4().hex}"
        self.tokens.add(token)
        scope = auth.get("scope") or {}
        body = {"token": {"methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z", **scope}}
        return json_reply(201, body, **{"X-Subject-Token": token})

    def _page(self, request: Request, items: List[Any]) -> Tuple[int, int, List[Any]]:
        body = request.json() or {}
        offset = int(body.get("offset") or 0)
        limit = min(int(body.get("limit") or 10), self.page_cap)
        return offset, limit, items[offset : offset + limit]

    def _list_pipelines(self, request: Request) -> Reply:
        name = (request.json() or {}).get("name") or ""
        found = sorted((p for p in self.pipelines.values() if name in p["name"]), key=lambda p: p["name"])
        offset, limit, page = self._page(request, found)
        pipelines = []
        for p in page:
            runs = [r for r in self.runs.values() if r["pipeline_id"] == p["id"]]
            latest = max(runs, key=lambda r: r["start_time"]) if runs else None
            pipelines.append(
                {
                    "pipeline_id": p["id"],
                    "name": p["name"],
                    "project_id": self.project_id,
                    "project_name": "cirelay-demo",
                    "component_id": "",
                    "is_publish": False,
                    "is_collect": False,
                    "manifest_version": "3.0",
                    "create_time": p["create_time"],
                    "latest_run": self._summary(latest) if latest else None,
                }
            )
        return json_reply(200, {"offset": offset, "limit": limit, "total": len(found), "pipelines": pipelines})

    def _get_pipeline(self, request: Request) -> Reply:
        p = self.pipelines[request.params["pipeline"]]
        return json_reply(
            200,
            {
                "id": p["id"],
                "name": p["name"],
                "description": "",
                "is_publish": False,
                "sources": p["sources"],
                "variables": [],
                "schedules": [],
                "triggers": [],
                "manifest_version": "3.0",
                "definition": json.dumps({"stages": [s for s, _ in p["stages"]]}),
                "project_id": self.project_id,
            },
        )

    def _start(self, request: Request) -> Reply:
        body = request.json() or {}
        for variable in body.get("variables") or []:
            if not isinstance(variable, dict) or set(variable) != {"name", "value"}:
                return _error(400, "DEVPIPE.00011001", f"invalid variable {variable!r}")
        for source in body.get("sources") or []:
            params = source.get("params") or {}
            build = params.get("build_params") or {}
            if not params.get("git_type") or not params.get("git_url"):
                return _error(400, "DEVPIPE.00011001", "source params need git_type and git_url")
            if build.get("build_type") not in ("branch", "tag"):
                return _error(400, "DEVPIPE.00011001", "build_params.build_type must be branch or tag")
        run_id = self.new_run(request.params["pipeline"], body)
        return json_reply(200, {"pipeline_run_id": run_id})

    def _get_run(self, request: Request) -> Reply:
        run = self.runs.get(request.arg("pipeline_run_id") or "")
        if run is None or run["pipeline_id"] != request.params["pipeline"]:
            return _error(404, "DEVPIPE.00011105", "the pipeline run does not exist")
        detail = self._detail(run)
        if run["stopped_at"] is None:
            run["index"] = min(run["index"] + 1, len(run["script"]) - 1)
        return json_reply(200, detail)

    def _list_runs(self, request: Request) -> Reply:
        body = request.json() or {}
        statuses = body.get("status") or []
        since, until = body.get("start_time"), body.get("end_time")
        found = [
            r
            for r in sorted(self.runs.values(), key=lambda r: r["start_time"], reverse=True)
            if r["pipeline_id"] == request.params["pipeline"]
            and (not statuses or self._status(r)[0] in statuses)
            and (since is None or r["start_time"] >= int(since))
            and (until is None or r["start_time"] <= int(until))
        ]
        offset, limit, page = self._page(request, found)
        return json_reply(
            200,
            {"offset": offset, "limit": limit, "total": len(found), "pipeline_runs": [self._summary(r) for r in page]},
        )

    def _stop(self, request: Request) -> Reply:
        run = self.runs.get(request.params["run"])
        if run is None or run["pipeline_id"] != request.params["pipeline"]:
            return _error(404, "DEVPIPE.00011105", "the pipeline run does not exist")
        status, current = self._status(run)
        if status in TERMINAL:
            return _error(400, "DEVPIPE.30011002", f"the pipeline run has already ended ({status})")
        run["stopped_at"] = current + 1
        return json_reply(200, {"success": True})

    def _logs(self, request: Request) -> Reply:
        run = self.runs.get(request.params["run"])
        if run is None:
            return _error(404, "DEVPIPE.00011105", "the pipeline run does not exist")
        names = {v: k for k, v in run["ids"].items()}
        key = names.get(request.params["step"], "")
        parts = key.split("/")
        if len(parts) != 3 or names.get(request.params["job"]) != "/".join(parts[:2]):
            return _error(404, "DEVPIPE.00011107", "the job or step does not exist in this run")
        body = request.json() or {}
        text = self._log_text(run, parts[1], parts[2])
        start = int(body.get("start_offset") or 0)
        limit = min(int(body.get("limit") or 500), self.log_page_lines)
        chunk = "".join(text[start:].splitlines(keepends=True)[:limit])
        end = start + len(chunk)
        return json_reply(
            200,
            {
                "has_more": end < len(text),
                "start_offset": str(start),
                "end_offset": str(end),
                "log": chunk,
                "location": "jenkins",
                "step_run_id": request.params["step"],
            },
        )

    def _template_create(self, request: Request) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or not all(isinstance(body.get(k), dict) for k in ("flow", "states", "workflow")):
            return _error(400, "DEVPIPE.00011001", "the template body needs flow, states and workflow objects")
        task_id = uuid.uuid4().hex
        self.templates[task_id] = {"body": body, "script": list(self.template_script), "index": 0, "pipeline_id": None}
        return json_reply(200, {"task_id": task_id})

    def _template_status(self, request: Request) -> Reply:
        task = self.templates.get(request.params["task"])
        if task is None:
            return _error(404, "DEVPIPE.00011108", "the template task does not exist")
        status = task["script"][task["index"]]
        task["index"] = min(task["index"] + 1, len(task["script"]) - 1)
        name = str(task["body"]["workflow"].get("name") or "from-template")
        answer: Dict[str, Any] = {"task_id": request.params["task"], "task_status": status}
        if status in ("succeeded", "finished"):
            if task["pipeline_id"] is None:
                task["pipeline_id"] = self.add_pipeline(
                    name, [("Build", [("Build", ["Build"])])], ["RUNNING", "COMPLETED"]
                )
            answer.update(
                pipeline_id=task["pipeline_id"],
                pipeline_name=name,
                pipeline_url=f"https://devcloud.cn-north-4.huaweicloud.example/cicd/pipeline/{task['pipeline_id']}",
            )
        return json_reply(200, answer)


def make_server() -> FakeCodeArts:
    """The fake with demo pipelines: one that passes, one that fails, one that waits for a review."""
    fake = FakeCodeArts()
    build_deploy = fake.add_pipeline(
        "build-and-deploy",
        [("Build", [("Build image", ["Checkout", "Maven build"])]), ("Deploy", [("Deploy to CCE", ["Helm upgrade"])])],
        ["QUEUED", "RUNNING", "RUNNING", "COMPLETED"],
    )
    fake.add_pipeline("nightly-tests", [("Test", [("API tests", ["Run tests"])])], ["RUNNING", "FAILED"])
    fake.add_pipeline(
        "release-with-approval",
        [
            ("Build", [("Build", ["Compile"])]),
            ("Approve", [("Manual review", ["Review"])]),
            ("Release", [("Release", ["Publish"])]),
        ],
        ["RUNNING", "PAUSED", "RUNNING", "COMPLETED"],
    )
    for _ in range(2):  # history for `run list`
        run_id = fake.new_run(build_deploy)
        fake.runs[run_id]["index"] = len(fake.runs[run_id]["script"]) - 1
    return fake


def env_for(url: str) -> Dict[str, str]:
    """What scripts/codearts.py needs to reach this fake (signing with the fake's key pair)."""
    return {
        "CODEARTS_ENDPOINT": url,
        "CODEARTS_PROJECT_ID": PROJECT_ID,
        "HUAWEICLOUD_SDK_AK": AK,
        "HUAWEICLOUD_SDK_SK": SK,
    }
