"""Zadig's API client: legacy workflow tasks and the custom-workflow OpenAPI, and how to read a task's state."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote

from cirelay.errors import CirelayError
from cirelay.http import api_request, make_session

SUCCESS_STATUS = "passed"
FAILURE_STATUSES = ("failed", "timeout", "cancelled", "reject")  # terminal, not a success
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
_NO_TASK_ID = (
    "Zadig accepted the request but its answer names no task_id (older releases answer "
    '{"message":"success"}), so --wait cannot follow the task; find it with `task list --commit-id`'
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

    def _call(self, method: str, path: str, *, once: bool = False, **kwargs: Any) -> Any:
        session = self.once_session if once else self.session
        return api_request(session, method, self.base_url + path, messages=_MESSAGES, **kwargs)

    # -- legacy workflow tasks (Zadig <= 3.x) --------------------------------------------------
    def list_tasks(self, commit_id: str) -> List[Dict[str, Any]]:
        """The workflow tasks Zadig ran for a commit (full SHA or its first 8 characters)."""
        body = self._call("GET", "/api/directory/workflowTask", params={"commitId": commit_id})
        _check_result(body, f"list the tasks of commit {commit_id}")
        if body is None:
            return []
        if not isinstance(body, list):
            raise CirelayError(f"expected a list of tasks from Zadig, got {json.dumps(body)[:200]}")
        return body

    def create_task(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """Start a task of a legacy workflow; answers {project_name, workflow_name, task_id}."""
        answer = self._call("POST", "/api/directory/workflowTask/create", once=True, json=body)
        _check_result(answer, f"start workflow {body.get('workflow_name')}")
        return answer if isinstance(answer, dict) else {"answer": answer}

    def get_task(self, workflow: str, task_id: int) -> Dict[str, Any]:
        """One legacy task: workflow_name, env_name, targets, images, test_reports, status (+ task_id)."""
        answer = self._call("GET", _legacy_path(workflow, task_id))
        _check_result(answer, f"read task {task_id} of workflow {workflow}")
        if not isinstance(answer, dict):
            return {"task_id": task_id, "answer": answer}
        # Zadig's legacy detail omits the id; add it so `jq .task_id` works on every task object.
        return {"task_id": task_id, **answer}

    def restart_task(self, workflow: str, task_id: int) -> Dict[str, Any]:
        """Restart a failed, timed-out or cancelled legacy task; answers {resultCode, errorMsg}."""
        answer = self._call("POST", _legacy_path(workflow, task_id) + "/restart", once=True)
        _check_result(answer, f"restart task {task_id} of workflow {workflow}")
        return answer if isinstance(answer, dict) else {"message": "success"}

    def cancel_task(self, workflow: str, task_id: int) -> Dict[str, Any]:
        """Cancel a legacy task; answers {resultCode, errorMsg}."""
        answer = self._call("POST", _legacy_path(workflow, task_id) + "/cancel")
        _check_result(answer, f"cancel task {task_id} of workflow {workflow}")
        return answer if isinstance(answer, dict) else {"message": "success"}

    def legacy_url(self, workflow: str, task_id: Any, project: Optional[str] = None) -> str:
        """Where people see the task: the web page when the project is known, else the API."""
        if project:
            page = f"/v1/projects/detail/{quote(project, safe='')}/pipelines/multi/{quote(workflow, safe='')}"
            return f"{self.base_url}{page}/{task_id}"
        return self.base_url + _legacy_path(workflow, task_id)

    # -- custom workflows (Zadig v4+ OpenAPI) --------------------------------------------------
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

    def custom_url(self, workflow: str, task_id: Any, project: Optional[str] = None) -> str:
        """Where people see the task: the web page when the project is known, else the API."""
        if project:
            page = f"/v1/projects/detail/{quote(project, safe='')}/pipelines/custom/{quote(workflow, safe='')}"
            return f"{self.base_url}{page}/{task_id}"
        return f"{self.base_url}/openapi/workflows/custom/task?taskId={task_id}&workflowKey={quote(workflow, safe='')}"


def _legacy_path(workflow: str, task_id: Any) -> str:
    return f"/api/directory/workflowTask/id/{task_id}/pipelines/{quote(workflow, safe='')}"


def _check_result(answer: Any, action: str) -> None:
    """The legacy API answers HTTP 200 with {resultCode, errorMsg}; a non-zero resultCode is a failure."""
    if not isinstance(answer, dict) or "resultCode" not in answer:
        return
    code = answer.get("resultCode")
    if code in (0, "0", None):
        return
    reason = answer.get("errorMsg") or "no reason given"
    raise CirelayError(f"Zadig could not {action}: {reason} (resultCode {code})", api_message=str(reason))


def outcome_of(status: Any) -> str:
    """'success' for passed, 'failure' for the other terminal statuses, else 'pending' (no status too)."""
    text = str(status or "").lower()
    if text == SUCCESS_STATUS:
        return "success"
    if text in FAILURE_STATUSES:
        return "failure"
    return "pending"


def describe_legacy(task: Dict[str, Any]) -> Tuple[str, str]:
    """(outcome, progress line) of a legacy task."""
    status = task.get("status")
    return outcome_of(status), str(status) if status else "no status yet"


def describe_custom(task: Dict[str, Any]) -> Tuple[str, str]:
    """(outcome, progress line) of a custom workflow task: its status, then each stage and its jobs."""
    status = task.get("status")
    parts = [str(status) if status else "no status yet"]
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
    return outcome_of(status), " | ".join(parts)


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
