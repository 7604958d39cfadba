"""Fake Huawei Cloud CodeArts Pipeline (v5 API + v3 templates) and IAM token endpoint.

Every route, its method and path, and the field names of every answer come from Huawei's SDK,
huaweicloudsdkcodeartspipeline 3.1.x (`v2/codeartspipeline_client.py`, `_<operation>_http_info`, and the
response models in `v2/model/`); examples and paging rules from the API reference (seed:
codearts-pipeline-api.txt, support.huaweicloud.com/intl/en-us/api-pipeline/*.html). The SDK model or page
behind each rule is named beside it. Tests check every request the script sends against the SDK's own
construction of it (tests/codearts_sdk.py).

    POST /v3/auth/tokens                              IAM password login -> 201 + X-Subject-Token
    POST /v5/{project}/api/pipelines/list             list_pipelines -> ListPipelinesResponse
    POST /v5/{project}/api/pipelines/status           batch_show_pipelines_latest_status -> [PipelineLatestRun]
    GET  /v5/{project}/api/pipelines/{id}             show_pipeline_detail -> ShowPipelineDetailResponse
    POST /v5/{project}/api/pipelines/{id}/run         run_pipeline (RunPipelineDTO) -> RunPipelineResponse
    GET  …/{id}/pipeline-runs/detail?pipeline_run_id= show_pipeline_run_detail -> ShowPipelineRunDetailResponse
    POST …/{id}/pipeline-runs/list                    list_pipeline_runs (ListPipelineRunsQuery)
    POST …/pipeline-runs/{R}/stop                     stop_pipeline_run -> {success}
    PUT  …/pipeline-runs/{R}/retry                    retry_pipeline_run (RetryPipelineRequest) -> {success}
    POST …/pipeline-runs/{R}/jobs/{J}/steps/{S}/pass    accept_manual_review -> {success}
    POST …/pipeline-runs/{R}/jobs/{J}/steps/{S}/refuse  reject_manual_review -> {success}
    POST …/pipeline-runs/{R}/jobs/{J}/steps/{S}/logs    show_pipeline_log (LogQuery) -> ShowPipelineLogResponse
    GET  …/pipeline-runs/{R}/artifacts                show_pipeline_artifacts -> {artifacts: [Artifact]}
    GET  …/pipeline-runs/{R}/steps/outputs?step_run_ids=  show_step_outputs -> ShowStepOutputsResponse
    POST /v3/templates/task                           create_pipeline_by_template (TemplateCddl) -> {task_id}
    GET  /v3/templates/{task_id}/status               show_instance_status -> ShowInstanceStatusResponse

Errors are {error_code, error_msg}. Every CodeArts route wants either an X-Auth-Token the fake
issued or knows (`tokens`), or an SDK-HMAC-SHA256 signature made with a key pair in `keys` or a
temporary key pair in `temporary_keys` (which also needs its X-Security-Token, signed), verified here
independently of the script: canonical request, X-Sdk-Date within 15 minutes.

Runs move through scripted status sequences: each pipeline has a `script` (e.g. QUEUED, RUNNING,
COMPLETED); every GET of a run's detail returns the current step and moves to the next, the last
one sticks. "REVIEW" in a script is a manual review waiting for someone: the run shows PAUSED with
its review job PAUSED and stays there until the review step is passed (the script goes on) or
refused (the run FAILS). Stage, job and step statuses are derived from it. `set_script(pipeline_id,
[...])` changes what the next runs do; `stop` turns a running run CANCELED; `retry` sends a failed
run through `retry_script`. A pipeline's concurrency rule (`set_concurrency`, model
PipelineConcurrencyMgmt) turns a run started beyond `concurrency_number` active runs IGNORED
(exceed_action ABORT) or QUEUED first (QUEUE). Lists are capped at `page_cap` items a page and logs
at `log_page_lines` lines a page, so clients must page. `token_uses` makes every token IAM issues
stop working after that many uses (401), as a token expiring during a long run does.
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
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import quote, unquote

from cirelay.emulators.base import FakeServer, Reply, Request, json_reply

PROJECT_ID = "5c1a7d3e9b2f4e6a8d0c1b2a3f4e5d6c"
TOKEN = "fake-codearts-token-7f3a"
AK = "CIRELAYFAKEAK0000001"
SK = "fake-secret-key-do-not-use-9e8d7c"
# A temporary key pair (an agency or OIDC federation): valid only with its security token
# (huaweicloudsdkcore auth/credentials.py: BasicCredentials.security_token -> X-Security-Token, signed).
TEMP_AK = "CIRELAYFAKETEMPAK001"
TEMP_SK = "fake-temporary-secret-key-4d3c2b"
SECURITY_TOKEN = "fake-security-token-gQ1x8e-do-not-use"
USERNAME, PASSWORD, DOMAIN = "ci-bot", "fake-password-5b4a", "cirelay-demo"
BASE_MS = 1_700_000_000_000

# ShowPipelineRunDetailResponse.status: COMPLETED, RUNNING, FAILED, CANCELED, PAUSED, SUSPEND, IGNORED.
TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "IGNORED")
ACTIVE = ("RUNNING", "PAUSED", "SUSPEND", "REVIEW")
REVIEW = "REVIEW"  # a script step, never a status: shown as PAUSED (a manual review waiting)
# ShowInstanceStatusResponse.task_status: initializing, processing, finished, succeeded.
TEMPLATE_STATUSES = ("initializing", "processing", "finished", "succeeded")
# LogQuery.sort, ListPipelineRunsQuery.sort_dir, ListPipelineQuery.sort_dir: asc, desc.
SORT_DIRS = ("asc", "desc")
# The first byte of every step's log in the fake's log store: the API reference's example answers a first
# page with start_offset "6132" (ShowPipelineLog), so offsets are positions in a store, not from 0.
LOG_BASE_OFFSET = 6132

Stages = List[Tuple[str, List[Tuple[str, List[str]]]]]  # [(stage, [(job, [step, …]), …]), …]


def _id(*parts: str) -> str:
    return hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()


def definition_id(pipeline_id: str, *names: str) -> str:
    """The ID of a stage (pipeline, stage) or job (pipeline, stage, job) in the pipeline's definition."""
    return _id("definition", pipeline_id, *names)


def _ms(value: Optional[str]) -> Optional[int]:
    """Epoch ms from a ListPipelineRunsQuery time: epoch milliseconds or yyyy-MM-dd HH:mm:ss (UTC here)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    return calendar.timegm(time.strptime(value, "%Y-%m-%d %H:%M:%S")) * 1000


def _error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"error_code": code, "error_msg": message})


class FakeCodeArts(FakeServer):
    """CodeArts Pipeline + IAM on one port; state in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.project_id = PROJECT_ID
        self.tokens = {TOKEN}
        self.keys = {AK: SK}
        self.temporary_keys = {TEMP_AK: (TEMP_SK, SECURITY_TOKEN)}
        self.users = {(DOMAIN, USERNAME): PASSWORD}
        self.page_cap = 2
        self.log_page_lines = 3
        self.token_uses: Optional[int] = None  # uses before a token IAM issued stops working (None: never)
        self._token_left: Dict[str, int] = {}
        self.pipelines: Dict[str, Dict[str, Any]] = {}
        self.runs: Dict[str, Dict[str, Any]] = {}
        self.templates: Dict[str, Dict[str, Any]] = {}
        self.template_script = ["initializing", "processing", "succeeded"]
        self.auth_failures: List[str] = []
        self._state = threading.Lock()
        self._clock = 0
        self._routes_()

    # -- data ---------------------------------------------------------------------------------
    def add_pipeline(
        self,
        name: str,
        stages: Stages,
        script: List[str],
        *,
        review_job: Optional[str] = None,
        skipped_jobs: Tuple[str, ...] = (),
        artifacts: Optional[List[Dict[str, Any]]] = None,
        outputs: Optional[Dict[str, Dict[str, str]]] = None,
    ) -> str:
        """A pipeline; review_job names its manual review job, skipped_jobs the jobs whose condition skips them.

        outputs maps a step name to the outputs it sets; artifacts are Artifact objects of a completed run.
        """
        pipeline_id = _id("pipeline", name)
        while pipeline_id in self.pipelines:  # names need not be unique (ListPipelineQuery.name is a fuzzy match)
            pipeline_id = _id("pipeline", name, pipeline_id)
        self.pipelines[pipeline_id] = {
            "id": pipeline_id,
            "name": name,
            "stages": stages,
            "script": list(script),
            "retry_script": ["RUNNING", "COMPLETED"],
            "review_job": review_job,
            "skipped_jobs": set(skipped_jobs),
            "artifacts": list(artifacts or []),
            "outputs": dict(outputs or {}),
            "create_time": self._tick(),
            # PipelineConcurrencyMgmt: off unless set_concurrency() turns it on.
            "concurrency_control": {
                "pipeline_id": pipeline_id,
                "concurrency_number": 1,
                "exceed_action": "QUEUE",
                "create_time": BASE_MS,
                "update_time": BASE_MS,
                "enable": False,
            },
            # PipelineSource {type, params: PipelineSourceParams}
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

    def set_concurrency(self, pipeline_id: str, number: int, exceed_action: str) -> None:
        """Turn on the pipeline's concurrency rule (PipelineConcurrencyMgmt.exceed_action: ABORT or QUEUE)."""
        assert exceed_action in ("ABORT", "QUEUE"), exceed_action
        rule = self.pipelines[pipeline_id]["concurrency_control"]
        rule.update(concurrency_number=number, exceed_action=exceed_action, enable=True, update_time=self._tick())

    def pipeline_id(self, name: str) -> str:
        return next(p["id"] for p in self.pipelines.values() if p["name"] == name)

    def new_run(self, pipeline_id: str, body: Optional[Dict[str, Any]] = None) -> str:
        pipeline = self.pipelines[pipeline_id]
        script = list(pipeline["script"])
        rule = pipeline["concurrency_control"]
        if rule["enable"]:
            active = sum(
                1 for r in self.runs.values() if r["pipeline_id"] == pipeline_id and self._status(r)[0] not in TERMINAL
            )
            if active >= rule["concurrency_number"]:
                # exceed_action "ABORT: 忽略不执行" (not run at all) or "QUEUE: 排队等待"
                # (model pipeline_concurrency_mgmt.py)
                script = ["IGNORED"] if rule["exceed_action"] == "ABORT" else ["QUEUED", *script]
        run_id = uuid.uuid4().hex
        self.runs[run_id] = {
            "id": run_id,
            "pipeline_id": pipeline_id,
            "script": script,
            "index": 0,
            "stopped_at": None,
            "refused": False,
            "body": body or {},
            "run_number": 1 + sum(1 for r in self.runs.values() if r["pipeline_id"] == pipeline_id),
            "start_time": self._tick(),
            "ids": {},
            "retries": [],
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
        elif run["refused"]:
            status = "FAILED"
        pipeline = self.pipelines[run["pipeline_id"]]
        n = len(pipeline["stages"])
        if status == REVIEW:  # the run waits at its review job's stage
            review = [i for i, (_, jobs) in enumerate(pipeline["stages"]) if pipeline["review_job"] in dict(jobs)]
            return "PAUSED", review[0] if review else min(max(active - 1, 0), n - 1)
        return status, min(max(active - 1, 0), n - 1)

    def _waiting_for_review(self, run: Dict[str, Any]) -> bool:
        return run["script"][run["index"]] == REVIEW and run["stopped_at"] is None and not run["refused"]

    def _stage_statuses(self, run: Dict[str, Any]) -> List[str]:
        status, current = self._status(run)
        n = len(self.pipelines[run["pipeline_id"]]["stages"])
        if status in ("INIT", "QUEUED"):
            return ["INIT"] * n
        if status in ("COMPLETED", "IGNORED"):  # StageRun.status has IGNORED too
            return [status] * n
        return ["COMPLETED" if i < current else status if i == current else "INIT" for i in range(n)]

    def _selected(self, run: Dict[str, Any], stage: str, job: str) -> bool:
        """RunPipelineDTO.choose_stages wins over choose_jobs (RunPipeline page: 'The priority is higher').

        Both name the pipeline definition's stage and job IDs (`definition_id`), the same in every run.
        """
        body = run["body"]
        stages, jobs = body.get("choose_stages"), body.get("choose_jobs")
        pipeline_id = run["pipeline_id"]
        if stages and definition_id(pipeline_id, stage) not in stages:
            return False
        return not jobs or definition_id(pipeline_id, stage, job) in jobs

    def _run_ids(self, run: Dict[str, Any], *parts: str) -> str:
        key = "/".join(parts)
        return run["ids"].setdefault(key, _id(run["id"], key))

    def _job_status(self, run: Dict[str, Any], pipeline: Dict[str, Any], job_name: str, stage_status: str) -> str:
        """JobRun.status: the stage's, or SKIPPED (condition false), or PAUSED for the review job waiting."""
        if job_name in pipeline["skipped_jobs"] and stage_status not in ("INIT", "QUEUED"):
            return "SKIPPED"
        if stage_status == "PAUSED" and pipeline["review_job"] and job_name != pipeline["review_job"]:
            return "COMPLETED"  # the others of the review's stage are done; only the review waits
        return stage_status

    def _steps(self, run: Dict[str, Any], stage: str, job: str, steps: List[str], status: str) -> List[Dict[str, Any]]:
        # StepRun.status: RUNNING, CANCELED, COMPLETED, FAILED (a review step waiting is RUNNING)
        step_status = {"PAUSED": "RUNNING", "SKIPPED": "INIT", "UNSELECTED": "INIT"}.get(status, status)
        review = job == self.pipelines[run["pipeline_id"]]["review_job"]
        return [
            {
                "name": step_name,
                "task": "official_devcloud_manualReview" if review else "official_shell_plugin",  # fake's names
                "business_type": "Normal",
                "inputs": [],
                "sequence": k,
                "official_task_version": "0.0.1",
                "identifier": f"STEP_{k}",
                "multi_step_editable": 0,
                "id": self._run_ids(run, stage, job, step_name),
                "endpoint_ids": [],
                "last_dispatch_id": None,
                "status": step_status,
                "message": None,
                "start_time": run["start_time"],
                "end_time": run["start_time"] + 20_000 if step_status in TERMINAL else None,
                "daily_build_number": None,
            }
            for k, step_name in enumerate(steps)
        ]

    def _detail(self, run: Dict[str, Any]) -> Dict[str, Any]:
        """ShowPipelineRunDetailResponse, stages as StageRun, jobs as JobRun, steps as StepRun."""
        pipeline = self.pipelines[run["pipeline_id"]]
        status, _ = self._status(run)
        stage_statuses = self._stage_statuses(run)
        stages = []
        for s_index, (stage_name, jobs) in enumerate(pipeline["stages"]):
            stage_id = self._run_ids(run, stage_name)
            s_status = stage_statuses[s_index]
            job_list = []
            any_selected = False
            for j_index, (job_name, steps) in enumerate(jobs):
                job_id = self._run_ids(run, stage_name, job_name)
                selected = self._selected(run, stage_name, job_name)
                any_selected = any_selected or selected
                j_status = self._job_status(run, pipeline, job_name, s_status) if selected else "UNSELECTED"
                job_list.append(
                    {
                        "id": job_id,
                        "category": None,
                        "sequence": j_index,
                        "async": False,
                        "name": job_name,
                        "identifier": f"JOB_{j_index}",
                        "depends_on": [],
                        "condition": "${{ completed() }}",
                        "resource": None,
                        "is_select": selected,
                        "timeout": "",
                        "last_dispatch_id": None,
                        "status": j_status,
                        "message": "step failed" if j_status == "FAILED" else None,
                        "start_time": run["start_time"],
                        "end_time": run["start_time"] + 30_000 if j_status in TERMINAL else None,
                        "steps": self._steps(run, stage_name, job_name, steps, j_status),
                        "exec_id": None,
                    }
                )
            stages.append(
                {
                    "id": stage_id,
                    "category": None,
                    "name": stage_name,
                    "identifier": f"STAGE_{s_index}",
                    "run_always": False,
                    "parallel": None,
                    "is_select": any_selected,
                    "sequence": s_index,
                    "depends_on": [],
                    "condition": None,
                    "status": s_status if any_selected else "UNSELECTED",
                    "start_time": run["start_time"],
                    "end_time": None,
                    "pause_time": 0,
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
            "pause_time": 0,
            "start_time": run["start_time"],
            "end_time": run["start_time"] + 90_000 if status in TERMINAL else 0,
            "stages": stages,
            "domain_id": _id("domain", DOMAIN),
            "project_id": self.project_id,
            "region": "cn-north-4",
            "component_id": "",
            "language": "en-us",
            "sources": run["body"].get("sources") or pipeline["sources"],
            "artifacts": [],  # PackageInfo: the fake's runs carry none here; see …/artifacts
            "subject_id": run["id"],
            "group_id": None,
            "group_name": None,
            "detail_url": self._detail_url(run),
            "current_system_time": BASE_MS + self._clock * 60_000,
        }

    def _detail_url(self, run: Dict[str, Any]) -> str:
        return (
            "https://devcloud.cn-north-4.huaweicloud.example/cicd/project/"
            f"{self.project_id}/pipeline/detail/{run['pipeline_id']}/{run['id']}?v=1"
        )

    def _summary(self, run: Dict[str, Any]) -> Dict[str, Any]:
        """ListPipelineRunsPagePipelineRuns / PipelineLatestRun (the same fields)."""
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
                left = self._token_left.get(token)
                if left is None:
                    return None
                if left > 0:
                    self._token_left[token] = left - 1
                    return None
                self.auth_failures.append("expired token")
            else:
                self.auth_failures.append("unknown token")
            # APIGW.0307 is API Gateway's answer to a token it no longer accepts.
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
        access = fields.get("Access", "")
        names = fields.get("SignedHeaders", "").split(";")
        security_token = request.headers.get("x-security-token")
        if access in self.temporary_keys:
            # A temporary AK/SK is only valid with its security token, sent as X-Security-Token and signed like
            # every header the SDK sets (huaweicloudsdkcore credentials.py sign_request, signer.py
            # _process_signed_headers: every header without '_' in its name).
            sk, expected_token = self.temporary_keys[access]
            if security_token != expected_token:
                return "a temporary access key needs its security token (X-Security-Token)"
            if "x-security-token" not in names:
                return "X-Security-Token must be signed"
        elif access in self.keys:
            sk = self.keys[access]
            if security_token is not None:
                return "a security token belongs to a temporary access key"
        else:
            return "unknown access key"
        date = request.headers.get("x-sdk-date", "")
        try:
            signed_at = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return "missing or malformed X-Sdk-Date"
        if abs(time.time() - signed_at) > 15 * 60:
            return "X-Sdk-Date more than 15 minutes away"
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
        step = run + r"/jobs/(?P<job>[^/]+)/steps/(?P<step>[^/]+)"
        self.route("POST", "/v3/auth/tokens")(self._login)
        self.route("POST", api + "/list")(self._guard(self._list_pipelines))
        self.route("POST", api + "/status")(self._guard(self._latest_status))
        self.route("GET", pipe + "/pipeline-runs/detail")(self._guard(self._get_run))
        self.route("POST", pipe + "/pipeline-runs/list")(self._guard(self._list_runs))
        self.route("GET", pipe)(self._guard(self._get_pipeline))
        self.route("POST", pipe + "/run")(self._guard(self._start))
        self.route("POST", run + "/stop")(self._guard(self._run_guard(self._stop)))
        self.route("PUT", run + "/retry")(self._guard(self._run_guard(self._retry)))
        self.route("GET", run + "/artifacts")(self._guard(self._run_guard(self._artifacts)))
        self.route("GET", run + "/steps/outputs")(self._guard(self._run_guard(self._outputs)))
        self.route("POST", step + "/pass")(self._guard(self._run_guard(self._review_pass)))
        self.route("POST", step + "/refuse")(self._guard(self._run_guard(self._review_refuse)))
        self.route("POST", step + "/logs")(self._guard(self._run_guard(self._logs)))
        self.route("POST", "/v3/templates/task")(self._guard(self._template_create))
        self.route("GET", r"/v3/templates/(?P<task>[^/]+)/status")(self._guard(self._template_status))

    def _guard(self, handler: Any) -> Any:
        def guarded(request: Request) -> Reply:
            with self._state:
                refused = self._authorized(request)
                if refused is not None:
                    return refused
                project = request.params.get("project")
                if project is not None and project != self.project_id:
                    return _error(404, "DEVPIPE.00011101", f"project {project} does not exist")
                pipeline_id = request.params.get("pipeline")
                if pipeline_id is not None and pipeline_id not in self.pipelines:
                    return _error(404, "DEVPIPE.00011104", "the pipeline does not exist")
                return handler(request)

        return guarded

    def _run_guard(self, handler: Any) -> Any:
        """The run of the path (…/pipeline-runs/{R}/…) must exist in the pipeline of the path."""

        def guarded(request: Request) -> Reply:
            run = self.runs.get(request.params["run"])
            if run is None or run["pipeline_id"] != request.params["pipeline"]:
                return _error(404, "DEVPIPE.00011105", "the pipeline run does not exist")
            return handler(request, run)

        return guarded

    def _step_of(self, run: Dict[str, Any], request: Request) -> Optional[Tuple[str, str, str]]:
        """(stage, job, step) names of the path's job_run_id and step_run_id in this run, or None."""
        names = {v: k for k, v in run["ids"].items()}
        parts = names.get(request.params["step"], "").split("/")
        if len(parts) != 3 or names.get(request.params["job"]) != "/".join(parts[:2]):
            return None
        return parts[0], parts[1], parts[2]

    def _job_of(self, run: Dict[str, Any], job_id: str) -> Dict[str, Any]:
        """The JobRun of this ID in the run's current detail."""
        for stage in self._detail(run)["stages"]:
            for job in stage["jobs"]:
                if job["id"] == job_id:
                    return job
        raise KeyError(job_id)

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
        with self._state:
            self.tokens.add(token)
            if self.token_uses is not None:
                self._token_left[token] = self.token_uses
        scope = auth.get("scope") or {}
        body = {"token": {"methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z", **scope}}
        return json_reply(201, body, **{"X-Subject-Token": token})

    def _page(self, request: Request, items: List[Any]) -> Tuple[int, int, List[Any]]:
        body = request.json() or {}
        offset = int(body.get("offset") or 0)
        limit = min(int(body.get("limit") or 10), self.page_cap)
        return offset, limit, items[offset : offset + limit]

    def _list_pipelines(self, request: Request) -> Reply:
        """ListPipelinesResponse {offset, limit, total, pipelines: [ListPipelinesPagePipelines]}."""
        body = request.json() or {}
        if body.get("sort_dir") is not None and body["sort_dir"] not in SORT_DIRS:
            return _error(400, "DEVPIPE.00011001", "sort_dir must be asc or desc")  # ListPipelineQuery.sort_dir
        name = body.get("name") or ""  # ListPipelineQuery.name: fuzzy match
        found = sorted((p for p in self.pipelines.values() if name in p["name"]), key=lambda p: p["name"])
        if body.get("sort_dir") == "desc":
            found.reverse()
        offset, limit, page = self._page(request, found)
        pipelines = []
        for p in page:
            latest = self._latest(p["id"])
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
                    "convert_sign": None,
                    "security_level": None,
                    "banned": False,
                    "description": "",
                    "tag_list": [],
                }
            )
        return json_reply(200, {"offset": offset, "limit": limit, "total": len(found), "pipelines": pipelines})

    def _latest(self, pipeline_id: str) -> Optional[Dict[str, Any]]:
        runs = [r for r in self.runs.values() if r["pipeline_id"] == pipeline_id]
        return max(runs, key=lambda r: (r["start_time"], r["run_number"])) if runs else None

    def _latest_status(self, request: Request) -> Reply:
        """batch_show_pipelines_latest_status: body list[str] of pipeline IDs -> list[PipelineLatestRun].

        The fake answers one entry per known pipeline that has run and leaves out the rest (unknown IDs,
        pipelines never run): the SDK documents no error for them, so a client must notice the gap.
        """
        ids = request.json()
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _error(400, "DEVPIPE.00011001", "the body must be an array of pipeline IDs")
        answer = []
        for pipeline_id in ids:
            latest = self._latest(pipeline_id) if pipeline_id in self.pipelines else None
            if latest is not None:
                answer.append(self._summary(latest))
        return json_reply(200, answer)

    def _get_pipeline(self, request: Request) -> Reply:
        """ShowPipelineDetailResponse (the fields a client may read)."""
        p = self.pipelines[request.params["pipeline"]]
        return json_reply(
            200,
            {
                "id": p["id"],
                "name": p["name"],
                "description": "",
                "manifest_version": "3.0",
                "region": "cn-north-4",
                "domain_id": _id("domain", DOMAIN),
                "project_id": self.project_id,
                "component_id": "",
                "is_publish": False,
                "creator_id": _id("user", USERNAME),
                "creator_name": USERNAME,
                "create_time": p["create_time"],
                "is_collect": False,
                "sources": p["sources"],
                "variables": [],
                "schedules": [],
                "triggers": [],
                "definition": json.dumps(
                    {
                        "stages": [
                            {
                                "id": definition_id(p["id"], stage),
                                "name": stage,
                                "jobs": [{"id": definition_id(p["id"], stage, job), "name": job} for job, _ in jobs],
                            }
                            for stage, jobs in p["stages"]
                        ]
                    }
                ),
                "concurrency_control": dict(p["concurrency_control"]),
                "banned": False,
            },
        )

    def _start(self, request: Request) -> Reply:  # noqa: PLR0911 - one reason each
        """run_pipeline: RunPipelineDTO {sources, description, variables, choose_jobs, choose_stages, …}."""
        body = request.json() or {}
        known = {"sources", "description", "variables", "choose_jobs", "choose_stages", "sub_hook", "execution_plan_id"}
        unknown = sorted(set(body) - known)
        if unknown:
            return _error(400, "DEVPIPE.00011001", f"unknown fields {unknown}")
        for variable in body.get("variables") or []:
            # RunPipelineDTOVariables {name, value}
            if not isinstance(variable, dict) or set(variable) != {"name", "value"}:
                return _error(400, "DEVPIPE.00011001", f"invalid variable {variable!r}")
        for source in body.get("sources") or []:
            params = source.get("params") or {}
            build = params.get("build_params") or {}
            if not params.get("git_type") or not params.get("git_url"):
                return _error(400, "DEVPIPE.00011001", "source params need git_type and git_url")
            if build.get("build_type") not in ("branch", "tag"):
                return _error(400, "DEVPIPE.00011001", "build_params.build_type must be branch or tag")
        pipeline = self.pipelines[request.params["pipeline"]]
        ids: Dict[str, Set[str]] = {
            "choose_stages": {definition_id(pipeline["id"], stage) for stage, _ in pipeline["stages"]},
            "choose_jobs": {
                definition_id(pipeline["id"], stage, job) for stage, jobs in pipeline["stages"] for job, _ in jobs
            },
        }
        for key in ("choose_jobs", "choose_stages"):
            chosen = body.get(key)
            if chosen is not None and (not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen)):
                return _error(400, "DEVPIPE.00011001", f"{key} must be an array of IDs")
            unknown_ids = sorted(set(chosen or []) - ids[key])
            if unknown_ids:  # strict where the reference is silent: an ID the definition does not have
                return _error(400, "DEVPIPE.00011001", f"{key}: no such ID in the pipeline {unknown_ids}")
        run_id = self.new_run(request.params["pipeline"], body)
        return json_reply(200, {"pipeline_run_id": run_id})

    def _get_run(self, request: Request) -> Reply:
        run = self.runs.get(request.arg("pipeline_run_id") or "")
        if run is None or run["pipeline_id"] != request.params["pipeline"]:
            return _error(404, "DEVPIPE.00011105", "the pipeline run does not exist")
        detail = self._detail(run)
        if run["stopped_at"] is None and not run["refused"] and not self._waiting_for_review(run):
            run["index"] = min(run["index"] + 1, len(run["script"]) - 1)
        return json_reply(200, detail)

    def _list_runs(self, request: Request) -> Reply:
        """list_pipeline_runs: ListPipelineRunsQuery -> ListPipelineRunsResponse."""
        body = request.json() or {}
        if body.get("sort_dir") is not None and body["sort_dir"] not in SORT_DIRS:
            return _error(400, "DEVPIPE.00011001", "sort_dir must be asc or desc")  # ListPipelineRunsQuery.sort_dir
        for key in ("start_time", "end_time"):  # ListPipelineRunsQuery: str, epoch ms or yyyy-MM-dd HH:mm:ss
            if body.get(key) is not None and not isinstance(body[key], str):
                return _error(400, "DEVPIPE.00011001", f"{key} must be a string")
        statuses = body.get("status") or []
        since, until = (_ms(body.get(k)) for k in ("start_time", "end_time"))
        found = [
            r
            for r in sorted(self.runs.values(), key=lambda r: r["start_time"], reverse=True)
            if r["pipeline_id"] == request.params["pipeline"]
            and (not statuses or self._status(r)[0] in statuses)
            and (since is None or r["start_time"] >= int(since))
            and (until is None or r["start_time"] <= int(until))
        ]
        if body.get("sort_dir") == "asc":
            found.reverse()
        offset, limit, page = self._page(request, found)
        return json_reply(
            200,
            {"offset": offset, "limit": limit, "total": len(found), "pipeline_runs": [self._summary(r) for r in page]},
        )

    def _stop(self, request: Request, run: Dict[str, Any]) -> Reply:
        status, current = self._status(run)
        if status in TERMINAL:
            return _error(400, "DEVPIPE.30011002", f"the pipeline run has already ended ({status})")
        run["stopped_at"] = current + 1
        return json_reply(200, {"success": True})

    def _retry(self, request: Request, run: Dict[str, Any]) -> Reply:
        """retry_pipeline_run: PUT, optional RetryPipelineRequest {repo_https_url, job_run_ids} -> {success}.

        The same run goes again (it keeps its ID); only a run that ended FAILED or CANCELED can be retried.
        """
        body = request.json() if request.body else None
        if body is not None and (not isinstance(body, dict) or set(body) - {"repo_https_url", "job_run_ids"}):
            return _error(400, "DEVPIPE.00011001", "invalid retry body")
        status, _ = self._status(run)
        if status not in ("FAILED", "CANCELED"):
            message = f"only a failed or cancelled run can be retried, this one is {status}"
            return _error(400, "DEVPIPE.30011003", message)
        run["retries"].append(body)
        run.update(script=list(self.pipelines[run["pipeline_id"]]["retry_script"]), index=0, stopped_at=None)
        run["refused"] = False
        return json_reply(200, {"success": True})

    def _review(self, request: Request, run: Dict[str, Any], accept: bool) -> Reply:
        """accept_manual_review / reject_manual_review: the job and step must be the run's review, waiting."""
        found = self._step_of(run, request)
        if found is None:
            return _error(404, "DEVPIPE.00011107", "the job or step does not exist in this run")
        pipeline = self.pipelines[run["pipeline_id"]]
        if found[1] != pipeline["review_job"]:
            return _error(400, "DEVPIPE.30011004", "the step is not a manual review")
        if not self._waiting_for_review(run):
            return _error(400, "DEVPIPE.30011005", "the manual review is not waiting for a decision")
        if accept:
            run["index"] = min(run["index"] + 1, len(run["script"]) - 1)
        else:
            run["refused"] = True
        return json_reply(200, {"success": True})

    def _review_pass(self, request: Request, run: Dict[str, Any]) -> Reply:
        return self._review(request, run, True)

    def _review_refuse(self, request: Request, run: Dict[str, Any]) -> Reply:
        return self._review(request, run, False)

    def _artifacts(self, request: Request, run: Dict[str, Any]) -> Reply:
        """show_pipeline_artifacts -> ShowPipelineArtifactsResponse {artifacts: [Artifact]} (a completed run's)."""
        status, _ = self._status(run)
        artifacts = self.pipelines[run["pipeline_id"]]["artifacts"] if status == "COMPLETED" else []
        return json_reply(200, {"artifacts": [dict(a) for a in artifacts]})

    def _outputs(self, request: Request, run: Dict[str, Any]) -> Reply:
        """show_step_outputs: step_run_ids (required, the IDs comma-separated) -> ShowStepOutputsResponse."""
        wanted = request.arg("step_run_ids")
        if not wanted:
            return _error(400, "DEVPIPE.00011001", "step_run_ids is required")
        names = {v: k for k, v in run["ids"].items()}
        outputs = self.pipelines[run["pipeline_id"]]["outputs"]
        step_outputs = []
        for step_id in wanted.split(","):
            parts = names.get(step_id, "").split("/")
            if len(parts) != 3:
                continue
            values = outputs.get(parts[2]) or {}
            step_outputs.append(
                {"step_run_id": step_id, "output_result": [{"key": k, "value": v} for k, v in values.items()]}
            )
        return json_reply(200, {"step_outputs": step_outputs, "current_system_time": BASE_MS + self._clock * 60_000})

    def _logs(self, request: Request, run: Dict[str, Any]) -> Reply:  # noqa: PLR0911 - one reason each
        found = self._step_of(run, request)
        if found is None:
            return _error(404, "DEVPIPE.00011107", "the job or step does not exist in this run")
        job = self._job_of(run, request.params["job"])
        if job.get("status") in ("INIT", "QUEUED", "SKIPPED", "UNSELECTED"):
            # Strict where the reference is silent: a step that never ran has no log to page through.
            return _error(400, "DEVPIPE.30011006", f"the job has not run ({job.get('status')}): there is no log")
        body = request.json() or {}
        # LogQuery {start_offset, end_offset, limit, sort}: the API page marks limit and sort mandatory.
        if not isinstance(body.get("limit"), int) or body.get("sort") not in SORT_DIRS:
            return _error(400, "DEVPIPE.00011001", "limit (lines) and sort (asc or desc) are required")
        try:
            start, end = int(body.get("start_offset") or 0), int(body.get("end_offset") or 0)
        except (TypeError, ValueError):
            return _error(400, "DEVPIPE.00011001", "start_offset and end_offset are numbers")
        lines = self._log_text(run, found[1], found[2]).splitlines(keepends=True)
        offsets = [LOG_BASE_OFFSET]  # where each line starts in the store, then where the log ends
        for line in lines:
            offsets.append(offsets[-1] + len(line.encode()))
        first, last = offsets[0], offsets[-1]
        limit = max(1, min(body["limit"], self.log_page_lines))
        # ShowPipelineLog (API page, SDK ShowPipelineLogResponse): an answer's start_offset and end_offset are
        # "entered in the request body's start_offset and end_offset to query the next page". So a request says
        # which window the client has: 0/0 is none yet; sort asc asks for what follows end_offset, desc for what
        # precedes start_offset.
        if body["sort"] == "asc":
            begin = end if end else first
            if begin not in offsets:
                return _error(400, "DEVPIPE.00011001", f"end_offset {end} is not a position in this log")
            i = offsets.index(begin)
            j = min(i + limit, len(lines))
        else:
            stop = start if start else last
            if stop not in offsets:
                return _error(400, "DEVPIPE.00011001", f"start_offset {start} is not a position in this log")
            j = offsets.index(stop)
            i = max(j - limit, 0)
        more = j < len(lines) if body["sort"] == "asc" else i > 0
        return json_reply(
            200,
            {
                "has_more": more,
                "start_offset": str(offsets[i]),
                "end_offset": str(offsets[j]),
                "log": "".join(lines[i:j]),
                "location": "jenkins",
                "step_run_id": request.params["step"],
            },
        )

    def _template_create(self, request: Request) -> Reply:
        """create_pipeline_by_template: TemplateCddl {flow, states, workflow} -> {task_id}."""
        body = request.json()
        if not isinstance(body, dict) or not all(isinstance(body.get(k), dict) for k in ("flow", "states", "workflow")):
            return _error(400, "DEVPIPE.00011001", "the template body needs flow, states and workflow objects")
        task_id = uuid.uuid4().hex
        self.templates[task_id] = {"body": body, "script": list(self.template_script), "index": 0, "pipeline_id": None}
        return json_reply(200, {"task_id": task_id})

    def _template_status(self, request: Request) -> Reply:
        """show_instance_status -> ShowInstanceStatusResponse {task_id, task_status, pipeline_id, …}."""
        task = self.templates.get(request.params["task"])
        if task is None:
            return _error(404, "DEVPIPE.00011108", "the template task does not exist")
        status = task["script"][task["index"]]
        task["index"] = min(task["index"] + 1, len(task["script"]) - 1)
        name = str(task["body"]["workflow"].get("name") or "from-template")
        answer: Dict[str, Any] = {"task_id": request.params["task"], "task_status": status}
        if status == "succeeded":
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


ARTIFACT = {  # Artifact (model artifact.py), as a build job's upload to the release repo reports it
    "project_id": PROJECT_ID,
    "name": "app.jar",
    "artifact_version": "1.4.2",
    "upload_target": "CodeArts Artifact",
    "artifact_package_type": "jar",
    "artifact_uri": "/build-and-deploy/1.4.2/app.jar",
    "artifact_download_url_with_id": "https://devrepo.example.test/download/app.jar",
    "artifact_type": "release",
    "hash_code": [{"hash_type": "sha256", "hash_value": hashlib.sha256(b"app.jar").hexdigest()}],
    "job_id": _id("job", "Build image"),
    "build_no": "20231124.1",
    "daily_build_number": "1",
    "file_size": "1048576",
}


def make_server() -> FakeCodeArts:
    """The fake with demo pipelines: one that passes, one that fails, one that waits for a review."""
    fake = FakeCodeArts()
    build_deploy = fake.add_pipeline(
        "build-and-deploy",
        [("Build", [("Build image", ["Checkout", "Maven build"])]), ("Deploy", [("Deploy to CCE", ["Helm upgrade"])])],
        ["QUEUED", "RUNNING", "RUNNING", "COMPLETED"],
        artifacts=[ARTIFACT],
        outputs={"Maven build": {"IMAGE_TAG": "1.4.2", "TESTS_PASSED": "312"}},
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
        review_job="Manual review",
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


def fixtures(fake: FakeCodeArts) -> Dict[str, Any]:
    """What this fake holds (the `cirelay-emulators fixtures` entry): read from its state, not restated."""
    with fake._state:
        return {
            "credentials": {"ak": AK, "sk": SK, "username": USERNAME, "password": PASSWORD, "domain": DOMAIN},
            "project_id": fake.project_id,
            "pipelines": [
                {
                    "id": p["id"],
                    "name": p["name"],
                    "stages": [{"name": stage, "jobs": [job for job, _ in jobs]} for stage, jobs in p["stages"]],
                    "statuses": list(p["script"]),
                    "runs": sorted(r["id"] for r in fake.runs.values() if r["pipeline_id"] == p["id"]),
                }
                for p in fake.pipelines.values()
            ],
        }
