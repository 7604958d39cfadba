"""Zadig's API client: legacy workflow tasks and the custom-workflow OpenAPI, and how to read a task's state."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote

import requests

from cirelay.errors import CirelayError
from cirelay.http import RETRY_ATTEMPTS, decode_json, make_session, raise_for_status, send

# Task statuses: aslan config/consts.go (CompletedStatus, FailedStatus, StatusSkipped, StatusPause,
# StatusWaitingApprove).
SUCCESS_STATUS = "passed"
FAILURE_STATUSES = ("failed", "timeout", "cancelled", "reject")  # terminal, not a success
SKIPPED_STATUS = "skipped"  # every job was skipped: terminal, not a success
PAUSE_STATUS = "pause"  # a stage waits for manual execution (custom resume), v5.0+
APPROVAL_STATUS = "wait_for_approval"  # a job waits for approval (custom approve); the task stays running
COMMIT_ID = re.compile(r"^[0-9a-fA-F]{8,64}$")  # Zadig matches a full SHA or its first 8 characters
# What an API token can hold: printable ASCII. Anything else (a line break inside, a non-ASCII
# character) makes requests/http.client refuse the header with an error that quotes its value.
TOKEN_CHARACTERS = re.compile(r"^[\x21-\x7e]+$")
BUILD_SPEC = re.compile(r"^(?P<service>[^:]+):(?P<repo>[^@]+)@(?P<branch>.+?)(?:#(?P<pr>\d+))?$")
SERVICE_TYPES = ("k8s", "helm")
# A restarted task may still show its old terminal status for a moment: for this many polls a
# terminal status seen before any non-terminal one is not believed yet.
RESTART_GRACE_POLLS = 3

# Zadig answers 401/403 from its auth middleware with an empty body, so the sentence must say it all.
_MESSAGES = {
    401: "Zadig did not accept the token (HTTP 401): check ZADIG_TOKEN",
    403: "Zadig refused access (HTTP 403): the token's user lacks permission on this project or workflow",
}
# The legacy API's backend went away in two steps (koderover/zadig): the commit lookup in v1.18.0,
# create/get/restart/cancel in v3.4.1 (bf642e113). The gateway still answers, with HTTP 500 or
# {resultCode: 500}.
_LEGACY_GONE = (
    "Zadig v3.4.1 and later no longer have the legacy workflow-task backend (they answer every such call"
    " this way): use `{use}` on a custom workflow instead"
)
_LOOKUP_GONE = (
    "Zadig v1.18.0 and later no longer have the commit lookup behind `task list`: list a custom workflow's"
    " tasks with `custom list` instead"
)
_BACKOFF = 0.5  # seconds before the first retry of a bare HTTP 500, doubled each time (as make_session's)
_NO_TASK_ID = (
    "Zadig accepted the request but its answer names no task_id (older releases answer "
    '{"message":"success"}), so --wait cannot follow the task; find it with `custom list` (or, legacy,'
    " `task list --commit-id`)"
)


class ZadigClient:
    """Zadig's legacy workflow-task API and its custom-workflow OpenAPI over one requests.Session."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = make_session()
        # Starting or restarting a task is never sent twice: a retried POST would start a second task.
        self.once_session = make_session(retry_unsafe=False)
        for session in (self.session, self.once_session):
            session.headers["Authorization"] = f"Bearer {token}"
            # HTTP 500 is Zadig's answer for every error that is not one of its coded ones (an unknown
            # parameter, a task that is not there): _send retries a 500 only when it carries no Zadig body.
            for adapter in session.adapters.values():
                retry = getattr(adapter, "max_retries", None)
                if retry is not None and retry.status_forcelist:
                    forcelist = tuple(code for code in retry.status_forcelist if code != 500)
                    adapter.max_retries = retry.new(status_forcelist=forcelist)  # type: ignore[attr-defined]
        self._registries: Optional[List[Dict[str, Any]]] = None

    def _send(self, method: str, path: str, *, once: bool = False, **kwargs: Any) -> requests.Response:
        """Send one request and raise CirelayError for an error answer, showing Zadig's description.

        A bare HTTP 500 (a proxy's) is retried like a 502, RETRY_ATTEMPTS times in all, unless the
        request is `once` (it starts something); a 500 with Zadig's error body is its answer, not retried.
        """
        session = self.once_session if once else self.session
        url = self.base_url + path
        attempts = 1 if once else RETRY_ATTEMPTS
        for attempt in range(1, attempts + 1):
            response = send(session, method, url, **kwargs)
            zadig = zadig_error(response)
            if response.status_code == 500 and zadig is None and attempt < attempts:
                time.sleep(_BACKOFF * 2 ** (attempt - 1))
                continue
            break
        if zadig is not None and response.status_code >= 400 and response.status_code not in _MESSAGES:
            where = f"{response.request.method if response.request is not None else method} {response.url}"
            raise CirelayError(
                f"{zadig} ({response.status_code}, {where})", status=response.status_code, url=response.url,
                api_message=zadig,
            )  # fmt: skip
        raise_for_status(response, _MESSAGES)
        return response

    def _call(self, method: str, path: str, *, once: bool = False, **kwargs: Any) -> Any:
        return decode_json(self._send(method, path, once=once, **kwargs))

    # -- legacy workflow tasks (Zadig <= v3.4.0) -----------------------------------------------
    def _legacy(self, use: str, method: str, path: str, **kwargs: Any) -> Any:
        """A legacy call; its HTTP 500 says the backend is gone (v3.4.1+), naming the custom command to use."""
        try:
            return self._call(method, path, **kwargs)
        except CirelayError as exc:
            # The backend gone, the gateway hands aslan's 404 back as a 500 ("… 404 page not found",
            # picket public.go:49-52); any other 500 is a real error of a server that still has it.
            gone = exc.api_message is None or "404 page not found" in exc.api_message
            if exc.status != 500 or not gone:
                raise
            hint = _LOOKUP_GONE if use == "custom list" else _LEGACY_GONE.format(use=use)
            raise CirelayError(f"{exc.message}; {hint}", status=500, url=exc.url, api_message=exc.api_message)

    def list_tasks(self, commit_id: str) -> List[Dict[str, Any]]:
        """The workflow tasks Zadig ran for a commit (full SHA or its first 8 characters)."""
        body = self._legacy("custom list", "GET", "/api/directory/workflowTask", params={"commitId": commit_id})
        _check_result(body, f"list the tasks of commit {commit_id}")
        if body is None:
            return []
        if not isinstance(body, list):
            raise CirelayError(f"expected a list of tasks from Zadig, got {json.dumps(body)[:200]}")
        return body

    def create_task(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """Start a task of a legacy workflow; answers {project_name, workflow_name, task_id}."""
        answer = self._legacy("custom run", "POST", "/api/directory/workflowTask/create", once=True, json=body)
        _check_result(answer, f"start workflow {body.get('workflow_name')}")
        return answer if isinstance(answer, dict) else {"answer": answer}

    def get_task(self, workflow: str, task_id: int) -> Dict[str, Any]:
        """One legacy task: workflow_name, env_name, targets, images, test_reports, status (+ task_id)."""
        answer = self._legacy("custom get", "GET", _legacy_path(workflow, task_id))
        _check_result(answer, f"read task {task_id} of workflow {workflow}")
        if not isinstance(answer, dict):
            return {"task_id": task_id, "answer": answer}
        # Zadig's legacy detail omits the id; add it so `jq .task_id` works on every task object.
        return {"task_id": task_id, **answer}

    def restart_task(self, workflow: str, task_id: int) -> Dict[str, Any]:
        """Restart a failed, timed-out or cancelled legacy task; answers {resultCode, errorMsg}."""
        answer = self._legacy("custom retry", "POST", _legacy_path(workflow, task_id) + "/restart", once=True)
        _check_result(answer, f"restart task {task_id} of workflow {workflow}", use="custom retry")
        return answer if isinstance(answer, dict) else {"message": "success"}

    def cancel_task(self, workflow: str, task_id: int) -> Dict[str, Any]:
        """Cancel a legacy task; answers {resultCode, errorMsg}."""
        answer = self._legacy("custom cancel", "POST", _legacy_path(workflow, task_id) + "/cancel")
        _check_result(answer, f"cancel task {task_id} of workflow {workflow}", use="custom cancel")
        return answer if isinstance(answer, dict) else {"message": "success"}

    def legacy_url(self, workflow: str, task_id: Any, project: Optional[str] = None) -> str:
        """Where people see the task: the web page when the project is known, else the API."""
        if project:
            page = f"/v1/projects/detail/{quote(project, safe='')}/pipelines/multi/{quote(workflow, safe='')}"
            return f"{self.base_url}{page}/{task_id}"
        return self.base_url + _legacy_path(workflow, task_id)

    # -- custom workflows (OpenAPI, Zadig v1.15+) ----------------------------------------------
    def run_custom(
        self, project: str, workflow: str, parameters: List[Dict[str, str]], inputs: List[Any]
    ) -> Dict[str, Any]:
        """Start a custom workflow task; answers {project_name, workflow_name, task_id}."""
        body = {"project_key": project, "workflow_key": workflow, "parameters": parameters, "inputs": inputs}
        answer = self._call("POST", "/openapi/workflows/custom/task", once=True, json=body)
        return answer if isinstance(answer, dict) else {"answer": answer}

    def get_custom(self, workflow: str, task_id: int) -> Dict[str, Any]:
        """One custom workflow task with its status and its stages' and jobs' statuses."""
        params = {"taskId": str(task_id), "workflowKey": workflow}
        answer = self._call("GET", "/openapi/workflows/custom/task", params=params)
        return answer if isinstance(answer, dict) else {"answer": answer}

    def cancel_custom(self, workflow: str, task_id: int) -> Dict[str, Any]:
        """Cancel a custom workflow task."""
        params = {"taskId": str(task_id), "workflowKey": workflow}
        answer = self._call("DELETE", "/openapi/workflows/custom/task", params=params)
        return answer if isinstance(answer, dict) else {"message": "success"}

    def retry_custom(self, project: str, workflow: str, task_id: int) -> Dict[str, Any]:
        """Retry a failed custom workflow task (the same task id runs again)."""
        path = f"/openapi/workflows/custom/{quote(workflow, safe='')}/task/{task_id}"
        answer = self._call("POST", path, once=True, params={"projectKey": project})
        return answer if isinstance(answer, dict) else {"message": "success"}

    def get_workflow(self, project: str, workflow: str) -> Dict[str, Any]:
        """A custom workflow's definition: params and stages → jobs {name, type, spec} (v1.18+)."""
        path = f"/openapi/workflows/custom/{quote(workflow, safe='')}/detail"
        try:
            answer = self._call("GET", path, params={"projectKey": project})
        except CirelayError as exc:
            raise CirelayError(
                f"could not read workflow {workflow} of project {project}: {exc.message}",
                status=exc.status, url=exc.url, api_message=exc.api_message,
            )  # fmt: skip
        if not isinstance(answer, dict):
            raise CirelayError(f"expected a workflow from Zadig, got {json.dumps(answer)[:200]}")
        return answer

    def list_registries(self) -> List[Dict[str, Any]]:
        """The image registries {registry_id, address, namespace, …} (GET /openapi/system/registry), read once."""
        if self._registries is None:
            answer = self._call("GET", "/openapi/system/registry")
            self._registries = [r for r in answer if isinstance(r, dict)] if isinstance(answer, list) else []
        return self._registries

    def approve_custom(self, workflow: str, task_id: int, job: str, approve: bool, comment: str) -> Dict[str, Any]:
        """Approve or reject the approval job task `job` (Zadig's field `stage_name` carries it)."""
        body = {"workflow_key": workflow, "task_id": task_id, "stage_name": job, "approve": approve, "comment": comment}
        answer = self._call("POST", "/openapi/workflows/custom/task/approve", once=True, json=body)
        return answer if isinstance(answer, dict) else {"message": "success"}

    def resume_custom(self, project: str, workflow: str, task_id: int, stage: str) -> Dict[str, Any]:
        """Run a stage that waits for manual execution (v5.0+)."""
        path = f"/openapi/workflows/custom/{quote(workflow, safe='')}/task/{task_id}/manual-exec"
        answer = self._call("POST", path, once=True, params={"projectKey": project}, json={"stage_name": stage})
        return answer if isinstance(answer, dict) else {"message": "success"}

    def list_custom(self, project: str, workflow: str, limit: int, page_size: int = 50) -> List[Dict[str, Any]]:
        """A workflow's tasks, newest first, page by page until `limit` tasks or the last page."""
        path = f"/openapi/workflows/custom/{quote(workflow, safe='')}/tasks"
        size = min(limit, page_size)
        found: List[Dict[str, Any]] = []
        page = 1
        while len(found) < limit:
            params = {"projectKey": project, "pageNum": str(page), "pageSize": str(size)}
            answer = self._call("GET", path, params=params)
            if not isinstance(answer, dict):
                raise CirelayError(f"expected {{total, workflow_tasks}} from Zadig, got {json.dumps(answer)[:200]}")
            tasks = [t for t in answer.get("workflow_tasks") or [] if isinstance(t, dict)]
            found.extend(tasks)
            total = answer.get("total")
            if len(tasks) < size or (isinstance(total, int) and page * size >= total):
                break
            page += 1
        return found[:limit]

    def job_log(self, workflow: str, task_id: int, job: str) -> str:
        """A job task's archived log as text ("" until Zadig archives it, when the job ends; v3.4+)."""
        path = f"/openapi/logs/log/v4/workflow/{quote(workflow, safe='')}/{task_id}/{quote(job, safe='')}"
        return self._send("GET", path).text

    def custom_url(self, workflow: str, task_id: Any, project: Optional[str] = None) -> str:
        """Where people see the task: the web page when the project is known, else the API."""
        if project:
            page = f"/v1/projects/detail/{quote(project, safe='')}/pipelines/custom/{quote(workflow, safe='')}"
            return f"{self.base_url}{page}/{task_id}"
        return f"{self.base_url}/openapi/workflows/custom/task?taskId={task_id}&workflowKey={quote(workflow, safe='')}"


def _legacy_path(workflow: str, task_id: Any) -> str:
    return f"/api/directory/workflowTask/id/{task_id}/pipelines/{quote(workflow, safe='')}"


def _check_result(answer: Any, action: str, use: Optional[str] = None) -> None:
    """The legacy API answers HTTP 200 with {resultCode, errorMsg}; a non-zero resultCode is a failure.

    The gateway turns any failure of the backend into resultCode 500 (picket public.go:80-100), which
    is what every restart/cancel gets once the backend is gone (v3.4.1+): say so, naming `use`.
    """
    if not isinstance(answer, dict) or "resultCode" not in answer:
        return
    code = answer.get("resultCode")
    if code in (0, "0", None):
        return
    reason = answer.get("errorMsg") or "no reason given"
    message = f"Zadig could not {action}: {reason} (resultCode {code})"
    if use is not None and str(code) == "500":
        message += "; " + _LEGACY_GONE.format(use=use)
    raise CirelayError(message, api_message=str(reason))


def zadig_error(response: requests.Response) -> Optional[str]:
    """Zadig's own error text from an error answer, or None when the body is not Zadig's.

    Zadig answers {type: "error", code, message, description, extra} (HTTP 400 for its 6xxx/7xxx
    codes) and, for any other failure, HTTP 500 {message: "Internal Error: ", code: 500, description}
    (pkg/tool/errors/errors.go ErrorMessage): the description holds the reason.
    """
    if response.status_code < 400 or not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or "code" not in body or not isinstance(body.get("message"), str):
        return None
    message = body["message"].strip().rstrip(":").strip()
    description = body.get("description")
    if isinstance(description, str) and description.strip() and description.strip() != message:
        return f"{message}: {description.strip()}" if message else description.strip()
    return message or None


def outcome_of(status: Any) -> str:
    """'success' for passed, 'failure' for the other terminal statuses and skipped, else 'pending' (no status too)."""
    text = str(status or "").lower()
    if text == SUCCESS_STATUS:
        return "success"
    if text in FAILURE_STATUSES or text == SKIPPED_STATUS:
        return "failure"
    return "pending"


def _status_text(status: Any) -> str:
    if not status:
        return "no status yet"
    return f"{status} (no job ran)" if str(status).lower() == SKIPPED_STATUS else str(status)


def describe_legacy(task: Dict[str, Any]) -> Tuple[str, str]:
    """(outcome, progress line) of a legacy task."""
    status = task.get("status")
    return outcome_of(status), _status_text(status)


def people(users: Any) -> str:
    """Zadig users and groups ({type, user_name | group_name}) as names for people; "anyone allowed" if none."""
    names = []
    for user in users if isinstance(users, list) else []:
        if not isinstance(user, dict):
            continue
        if user.get("user_name"):
            names.append(str(user["user_name"]))
        elif user.get("group_name"):
            names.append(f"group {user['group_name']}")
        elif user.get("type"):
            names.append(str(user["type"]).replace("_", " "))
    return ", ".join(names) or "anyone allowed"


def job_tasks(task: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every job task of a custom task, stage by stage."""
    return [
        job
        for stage in task.get("stages") or []
        if isinstance(stage, dict)
        for job in stage.get("jobs") or []
        if isinstance(job, dict)
    ]


def waiting_for(task: Dict[str, Any]) -> List[str]:
    """What a custom task waits on from people: paused stages (manual execution) and jobs awaiting approval."""
    waits = []
    for stage in task.get("stages") or []:
        if isinstance(stage, dict) and str(stage.get("status") or "").lower() == PAUSE_STATUS:
            manual = stage.get("manual_exec") if isinstance(stage.get("manual_exec"), dict) else {}
            users = people((manual or {}).get("manual_exec_users"))
            waits.append(f"waits for manual execution of stage {stage.get('name')} by {users} (custom resume)")
    for job in job_tasks(task):
        if str(job.get("status") or "").lower() == APPROVAL_STATUS:
            spec = job.get("spec") if isinstance(job.get("spec"), dict) else {}
            native = (spec or {}).get("native_approval")
            users = people(native.get("approve_users") if isinstance(native, dict) else None)
            waits.append(f"waits for approval of job {job.get('name')} by {users} (custom approve)")
    return waits


def describe_custom(task: Dict[str, Any]) -> Tuple[str, str]:
    """(outcome, progress line) of a custom workflow task: its status, each stage and its jobs, what it waits on."""
    status = task.get("status")
    parts = [_status_text(status)]
    for stage in task.get("stages") or []:
        if not isinstance(stage, dict):
            continue
        jobs = ", ".join(
            f"{job.get('display_name') or job.get('name')} {job.get('status') or 'pending'}"
            for job in stage.get("jobs") or []
            if isinstance(job, dict)
        )
        line = f"{stage.get('name')}: {stage.get('status') or 'pending'}"
        parts.append(f"{line} [{jobs}]" if jobs else line)
    line = " | ".join(parts)
    waits = waiting_for(task)
    return outcome_of(status), f"{line} — {'; '.join(waits)}" if waits else line


def after_restart(describe: Callable[[Any], Tuple[str, str]]) -> Callable[[Any], Tuple[str, str]]:
    """Wrap describe so a restarted task's old terminal status is not taken for the new outcome."""
    polls, moved = [0], [False]

    def state_of(task: Any) -> Tuple[str, str]:
        outcome, description = describe(task)
        polls[0] += 1
        if outcome == "pending":
            moved[0] = True
        elif not moved[0] and polls[0] <= RESTART_GRACE_POLLS:
            return "pending", f"{description} (restart not picked up yet)"
        return outcome, description

    return state_of
