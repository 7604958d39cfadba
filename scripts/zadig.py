#!/usr/bin/env python3
"""cirelay-zadig: start Zadig workflow tasks from a CI job and, with --wait, pass or fail with them.

Two generations of Zadig's API:

- `task …`   the legacy workflow-task API of Zadig 3.x and earlier (/api/directory/workflowTask…);
- `custom …` the OpenAPI of custom workflows, Zadig v4 and later (/openapi/workflows/custom/…).

Environment:
  ZADIG_URL              Zadig's base URL, e.g. https://zadig.example.com (required)
  ZADIG_TOKEN            an API token, sent as "Authorization: Bearer <token>" (required)
  ZADIG_PROJECT          default for -p/--project
  ZADIG_WORKFLOW         default for -w/--workflow
  ZADIG_ENV              default for -e/--env
  ZADIG_TASK_ID          default for --id
  CIRELAY_WAIT_TIMEOUT   seconds --wait waits before giving up (default 3600)

Example:
  python zadig.py custom run -p demo -w build-and-deploy --param TAG=1.4.2 --wait
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sys
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote, quote_plus

import click
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

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

# --- cirelay plumbing: begin (identical in every script; tests/test_plumbing.py checks) ---
__version__ = "0.1.0"
USER_AGENT = f"cirelay/{__version__}"

# Exit codes, the same for every script (README "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1  # the API or the remote task failed
EXIT_USAGE = 2  # bad input or usage (click's own usage errors use 2 too)
EXIT_TIMEOUT = 3  # gave up waiting; the remote task may still be running
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM, after cleanup

RETRY_ATTEMPTS = 5
RETRY_AFTER_CAP = 120.0  # seconds; a longer Retry-After is shortened to this
DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds; CIRELAY_TIMEOUT overrides
_API_MESSAGE_KEYS = ("message", "error_msg", "errorMsg", "description", "error_description", "error")
_STATUS_SENTENCES = {
    401: "authentication failed (HTTP 401): check the credentials",
    403: "permission denied (HTTP 403): the credentials lack access to this resource",
    404: "not found (HTTP 404)",
    409: "conflict (HTTP 409)",
    422: "the request was refused as invalid (HTTP 422)",
    429: "rate limited (HTTP 429) and still limited after retrying",
}


class CirelayError(Exception):
    """The one error every script raises: a message for people, plus what the API said."""

    exit_code = EXIT_FAILED

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        url: Optional[str] = None,
        api_message: Optional[str] = None,
        result: Any = None,
        exit_code: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url
        self.api_message = api_message
        self.result = result  # printed on stdout before the error (final task state, partial results)
        if exit_code is not None:
            self.exit_code = exit_code


class WaitTimeout(CirelayError):
    exit_code = EXIT_TIMEOUT


class _CappedRetry(Retry):
    """urllib3 Retry whose Retry-After is honoured but never longer than RETRY_AFTER_CAP."""

    def get_retry_after(self, response: Any) -> Optional[float]:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, RETRY_AFTER_CAP)


def _timeout_from_env() -> Tuple[float, float]:
    raw = os.environ.get("CIRELAY_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        parts = [float(p) for p in raw.split(",")]
    except ValueError:
        raise click.UsageError(f"CIRELAY_TIMEOUT must be seconds or 'connect,read' seconds, got {raw!r}")
    if len(parts) == 1 and parts[0] > 0:
        return (min(DEFAULT_TIMEOUT[0], parts[0]), parts[0])
    if len(parts) == 2 and min(parts) > 0:
        return (parts[0], parts[1])
    raise click.UsageError(f"CIRELAY_TIMEOUT must be seconds or 'connect,read' seconds, got {raw!r}")


class _Session(requests.Session):
    """A requests.Session that applies the default timeout in one place."""

    timeout: Tuple[float, float] = DEFAULT_TIMEOUT

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def make_session(retry_unsafe: bool = True) -> requests.Session:
    """A session with retries, timeouts and the cirelay User-Agent.

    retry_unsafe=False keeps POST/PATCH from being sent twice: only connection failures
    (nothing reached the server) are retried. Use it for requests that create something.
    """
    methods = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
    if retry_unsafe:
        methods |= {"POST", "PATCH"}
    retry = _CappedRetry(
        total=RETRY_ATTEMPTS - 1,
        connect=RETRY_ATTEMPTS - 1,
        read=RETRY_ATTEMPTS - 1 if retry_unsafe else 0,
        status=RETRY_ATTEMPTS - 1,
        other=0,
        backoff_factor=0.5,  # 0.5 s, 1 s, 2 s, 4 s between the five attempts
        status_forcelist=(
            429,  # rate limited: wait (Retry-After) and try again
            500,  # internal error: often a passing fault behind a load balancer
            502,  # bad gateway: the proxy could not reach the backend
            503,  # unavailable: deploys, overload
            504,  # gateway timeout: the backend was slow this once
        ),
        allowed_methods=frozenset(methods),
        respect_retry_after_header=True,
        raise_on_status=False,  # hand the last answer back so its message can be shown
    )
    session = _Session()
    session.timeout = _timeout_from_env()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def _api_message(body: Any) -> Optional[str]:
    """The API's own error text from a decoded body, whatever key it uses."""
    if not isinstance(body, dict):
        return None
    for key in _API_MESSAGE_KEYS:
        value = body.get(key)
        if isinstance(value, (str, int)) and value != "":
            detail = body.get("description")
            # Zadig says {message, description}: keep both.
            if key == "message" and isinstance(detail, str) and detail and detail != value:
                return f"{value}: {detail}"
            return str(value)
        if isinstance(value, dict):  # {"error": {"code": …, "message": …}}
            nested = _api_message(value)
            if nested:
                return nested
    return None


def decode_json(response: requests.Response) -> Any:
    """response.json(), or a CirelayError that shows what came back instead."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        text = response.text[:200].strip()
        raise CirelayError(
            f"expected JSON from {response.request.method} {response.url}, got {response.status_code} {text!r}",
            status=response.status_code,
            url=response.url,
        )


def raise_for_status(response: requests.Response, messages: Optional[Dict[int, str]] = None) -> None:
    """Raise CirelayError for a 4xx/5xx: our sentence for known codes, then the API's own words."""
    if response.status_code < 400:
        return
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text[:200].strip() or None
    api = _api_message(body) if not isinstance(body, str) else body
    sentence = (messages or {}).get(response.status_code) or _STATUS_SENTENCES.get(response.status_code)
    method = response.request.method if response.request is not None else "?"
    where = f"{method} {response.url}"
    parts = [p for p in (sentence, api) if p]
    if not parts:
        parts = [f"HTTP {response.status_code} {response.reason or ''}".strip()]
    raise CirelayError(
        f"{': '.join(parts)} ({response.status_code}, {where})",
        status=response.status_code,
        url=response.url,
        api_message=api,
    )


def api_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    messages: Optional[Dict[int, str]] = None,
    **kwargs: Any,
) -> Any:
    """Send one request; return the decoded JSON body or raise CirelayError."""
    try:
        response = session.request(method, url, **kwargs)
    except requests.exceptions.RetryError as exc:
        raise CirelayError(f"{method} {url} kept failing after {RETRY_ATTEMPTS} attempts: {exc}", url=url)
    except requests.exceptions.InvalidHeader:
        # requests quotes the offending header value, which may be a credential: never show it.
        raise CirelayError(f"could not send {method} {url}: a header holds characters HTTP cannot carry", url=url)
    except requests.exceptions.RequestException as exc:
        raise CirelayError(f"could not complete {method} {url}: {type(exc).__name__}: {exc}", url=url)
    raise_for_status(response, messages)
    return decode_json(response)


def redact(exc: CirelayError, *secrets: Optional[str]) -> CirelayError:
    """The error with every secret we sent blanked out, in case the server quoted our request back."""
    message = exc.message
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}:
                message = message.replace(form, "***")
    if message == exc.message:
        return exc
    return CirelayError(message, status=exc.status, url=exc.url, result=exc.result, exit_code=exc.exit_code)


def parse_json_text(text: str, source: str) -> Any:
    """json.loads with an error that names the source and the position."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")


class JsonArg(click.ParamType):
    """A JSON value given inline ('{"a":1}'), from a file ('@file.json') or from stdin ('-')."""

    name = "JSON"

    def __init__(self, kind: Optional[type] = None) -> None:
        self.kind = kind

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if not isinstance(value, str):
            return value
        source = "the value"
        try:
            if value == "-":
                value, source = sys.stdin.read(), "stdin"
            elif value.startswith("@"):
                source = value[1:]
                with open(source, encoding="utf-8") as handle:
                    value = handle.read()
        except OSError as exc:
            self.fail(f"cannot read {source}: {exc.strerror}", param, ctx)
        except UnicodeDecodeError as exc:
            self.fail(f"{source} is not UTF-8 text (byte {exc.start})", param, ctx)
        try:
            data = parse_json_text(value, source)
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)
        if self.kind is not None and not isinstance(data, self.kind):
            wanted = {"dict": "object", "list": "array"}.get(self.kind.__name__, self.kind.__name__)
            self.fail(f"expected a JSON {wanted}, got {type(data).__name__}", param, ctx)
        return data


class KeyValue(click.ParamType):
    """NAME=VALUE, split at the first '='."""

    name = "NAME=VALUE"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if isinstance(value, tuple):
            return value
        name, sep, val = str(value).partition("=")
        if not sep or not name.strip():
            self.fail(f"expected NAME=VALUE, got {value!r}", param, ctx)
        return (name.strip(), val)


def require(value: Optional[str], option: str, envvar: str) -> str:
    """A required setting that usually comes from the CI context: exit 2 naming both."""
    if value is None or value == "":
        raise click.UsageError(f"missing {option}: pass it or set {envvar}")
    return value


def log(message: str) -> None:
    """Everything for people goes to stderr; stdout carries only the result."""
    click.echo(message, err=True)


def mask(secret: Optional[str]) -> None:
    """Ask GitHub Actions to hide a secret made at run time (a token) from every log."""
    if secret and os.environ.get("GITHUB_ACTIONS") == "true":
        for line in str(secret).splitlines():
            click.echo(f"::add-mask::{line}", err=True)


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def emit(result: Any, outputs: Optional[Dict[str, Any]] = None, summary: Optional[Dict[str, Any]] = None) -> None:
    """Print the result as JSON on stdout; in GitHub Actions also write outputs and a summary."""
    text = json.dumps(result, indent=2, ensure_ascii=False)
    click.echo(text)
    values = {"result": text}
    for key, value in (outputs or {}).items():
        if value is not None:
            values[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    output_file = os.environ.get("GITHUB_OUTPUT")
    if output_file:
        chunks = []
        for key, value in values.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            chunks.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        _append(output_file, "".join(chunks))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file and summary:
        rows = "".join(f"| {k} | {str(v).replace('|', '&#124;')} |\n" for k, v in summary.items() if v is not None)
        _append(summary_file, f"| cirelay | |\n|---|---|\n{rows}\n")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def wait_for(
    poll: Callable[[], Any],
    state_of: Callable[[Any], Tuple[str, str]],
    *,
    timeout: float,
    what: str,
    url: Optional[str] = None,
    start: float = 2.0,
    factor: float = 1.5,
    ceiling: float = 15.0,
    on_abandon: Optional[Callable[[], None]] = None,
) -> Any:
    """Poll until state_of(last) says 'success' or 'failure', or the deadline passes.

    state_of returns (outcome, description): outcome is 'success', 'failure' or 'pending';
    a progress line goes to stderr whenever the description changes. Returns the last
    polled value on success, raises CirelayError (exit 1) on failure and WaitTimeout
    (exit 3) at the deadline, both carrying the last value as their result. on_abandon
    (e.g. cancel the remote task) runs when the deadline passes or the wait is interrupted.
    """
    try:
        return _wait_loop(
            poll, state_of, timeout=timeout, what=what, url=url, start=start, factor=factor, ceiling=ceiling
        )
    except (WaitTimeout, KeyboardInterrupt):
        if on_abandon is not None:
            log(f"cancelling {what}")
            try:
                on_abandon()
            except CirelayError as exc:
                log(f"could not cancel {what}: {exc.message}")
        raise


def _wait_loop(
    poll: Callable[[], Any],
    state_of: Callable[[Any], Tuple[str, str]],
    *,
    timeout: float,
    what: str,
    url: Optional[str],
    start: float,
    factor: float,
    ceiling: float,
) -> Any:
    deadline = time.monotonic() + timeout
    delay, shown = start, None
    where = f" ({url})" if url else ""
    while True:
        current = poll()
        outcome, description = state_of(current)
        if description != shown:
            log(f"{what}: {description}")
            shown = description
        if outcome == "success":
            return current
        if outcome == "failure":
            raise CirelayError(f"{what} ended {description}{where}", result=current)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(
                f"gave up waiting for {what} after {timeout:g} s; it may still be running remotely{where}",
                result=current,
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * factor, ceiling)


def wait_options(wait_flag: bool, cancel_default: bool = False, poll_max: float = 15.0) -> Callable[[Any], Any]:
    """The options of every command that starts something and may wait for it, or waits.

    Adds wait (when wait_flag), timeout, poll_max and cancel_on_timeout parameters.
    """

    def decorate(command: Any) -> Any:
        options = [
            click.option(
                "--cancel-on-timeout/--no-cancel-on-timeout",
                default=cancel_default,
                show_default=True,
                help="Cancel the remote task when the timeout passes or the wait is interrupted.",
            ),
            click.option(
                "--poll-max",
                type=click.FloatRange(min=1),
                default=poll_max,
                show_default=True,
                help="Longest pause between two polls, in seconds.",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0),
                default=3600,
                show_default=True,
                envvar="CIRELAY_WAIT_TIMEOUT",
                show_envvar=True,
                help="Give up waiting after this many seconds (exit 3).",
            ),
        ]
        if wait_flag:
            options.append(click.option("--wait", is_flag=True, help="Wait until it finishes; exit 0 only on success."))
        for option in options:
            command = option(command)
        return command

    return decorate


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the API or the remote task failed; 2 bad input or usage; "
    "3 timed out waiting; 130 interrupted."
)


class CirelayGroup(click.Group):
    """Turns CirelayError into 'Error: …' and its exit code, SIGTERM/Ctrl-C into 130."""

    def invoke(self, ctx: click.Context) -> Any:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            return super().invoke(ctx)
        except CirelayError as exc:
            if exc.result is not None:
                click.echo(json.dumps(exc.result, indent=2, ensure_ascii=False))
            log(f"Error: {exc.message}")
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            log("Interrupted.")
            ctx.exit(EXIT_INTERRUPTED)


# --- cirelay plumbing: end ---


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


class BuildSpec(click.ParamType):
    """SERVICE:REPO@BRANCH or SERVICE:REPO@BRANCH#PR."""

    name = "SERVICE:REPO@BRANCH[#PR]"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if isinstance(value, tuple):
            return value
        found = BUILD_SPEC.match(str(value).strip())
        if not found:
            self.fail(f"expected SERVICE:REPO@BRANCH or SERVICE:REPO@BRANCH#PR, got {value!r}", param, ctx)
        pr = int(found.group("pr") or 0)
        return (found.group("service").strip(), found.group("repo").strip(), found.group("branch").strip(), pr)


def task_body(
    workflow: str,
    env: str,
    images: Tuple[Tuple[str, str], ...],
    builds: Tuple[Tuple[str, str, str, int], ...],
    service_type: str,
) -> Dict[str, Any]:
    """The create body; several --build flags for one service become one target with several repos."""
    body: Dict[str, Any] = {"workflow_name": workflow, "env_name": env}
    if images:
        body["release_images"] = [{"image": image, "service_name": service} for service, image in images]
    if builds:
        targets: Dict[str, Dict[str, Any]] = {}
        for service, repo, branch, pr in builds:
            target = targets.setdefault(
                service, {"name": service, "service_type": service_type, "build": {"repos": []}}
            )
            target["build"]["repos"].append({"repo_name": repo, "branch": branch, "pr": pr})
        body["targets"] = list(targets.values())
    return body


def check_commit_id(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    if value is not None and not COMMIT_ID.match(value):
        raise click.BadParameter(f"expected at least 8 hex characters of a commit SHA, got {value!r}")
    return value


def client_from(url: Optional[str]) -> ZadigClient:
    """The client for --url (ZADIG_URL) and ZADIG_TOKEN; exit 2 when one is missing."""
    url = require(url, "--url", "ZADIG_URL")
    token = os.environ.get("ZADIG_TOKEN", "").strip()
    if not token:
        raise click.UsageError("missing ZADIG_TOKEN: set it to a Zadig API token (read only from the environment)")
    if not TOKEN_CHARACTERS.match(token):  # never show the value: it is a secret
        raise click.UsageError(
            "ZADIG_TOKEN holds a line break, a space, a control or a non-ASCII character, which a token cannot"
            " have: check how the secret was set"
        )
    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"ZADIG_URL must start with http:// or https://, got {url!r}")
    return ZadigClient(url, token)


class Task:
    """One task of a workflow, legacy or custom: how to read, describe and cancel it, and where people see it."""

    def __init__(
        self,
        client: ZadigClient,
        workflow: str,
        task_id: Any,
        *,
        custom: bool,
        project: Optional[str] = None,
        restarted: bool = False,
    ) -> None:
        self.client = client
        self.workflow = workflow
        self.task_id = task_id
        self.custom = custom
        self.restarted = restarted  # restarted or retried: its old terminal status may show for a moment
        url_of = client.custom_url if custom else client.legacy_url
        self.url = url_of(workflow, task_id, project)
        self.what = f"Zadig task {workflow} #{task_id}"

    def get(self) -> Dict[str, Any]:
        """The task as Zadig shows it now."""
        if self.custom:
            return self.client.get_custom(self.workflow, int(self.task_id))
        return self.client.get_task(self.workflow, int(self.task_id))

    def cancel(self) -> Dict[str, Any]:
        """Cancel the task."""
        if self.custom:
            return self.client.cancel_custom(self.workflow, int(self.task_id))
        return self.client.cancel_task(self.workflow, int(self.task_id))

    def state_of(self) -> Callable[[Any], Tuple[str, str]]:
        """The waiter's view of this task's states."""
        describe = describe_custom if self.custom else describe_legacy
        return after_restart(describe) if self.restarted else describe


def finish(state: Any, task: Task, error: Optional[CirelayError] = None) -> None:
    """Print the final task, write the CI outputs, then fail with the wait's error if there was one."""
    status = state.get("status") if isinstance(state, dict) else None
    emit(
        state,
        outputs={"task-id": str(task.task_id), "status": status, "url": task.url},
        summary={"Zadig task": task.task_id, "status": status, "url": task.url},
    )
    if error is not None:
        raise CirelayError(error.message, exit_code=error.exit_code)


def follow(
    task: Task,
    *,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
    first: Optional[Dict[str, Any]] = None,
) -> None:
    """Wait for a task and finish with its final state: exit 0 passed, 1 other end, 3 timeout.

    first is a state already fetched: the first poll hands it back instead of asking again.
    After a cancel at the timeout the task is read once more, so the JSON and the outputs show
    the state the cancel left (cancelled), not the last status seen before it.
    """
    cancelled: List[bool] = []

    def cancel() -> None:
        task.cancel()
        cancelled.append(True)

    try:
        final = wait_for(
            first_then(first, task.get) if first is not None else task.get,
            task.state_of(),
            timeout=timeout,
            what=task.what,
            url=task.url,
            start=min(2.0, poll_max),
            factor=1.5,
            ceiling=poll_max,
            on_abandon=cancel if cancel_on_timeout else None,
        )
    except CirelayError as exc:
        if exc.result is None:  # the API failed while polling: nothing final to show
            raise
        state = read_after_cancel(task) if cancelled else None
        finish(state if state is not None else exc.result, task, exc)
        return
    finish(final, task)


def read_after_cancel(task: Task) -> Any:
    """The task once more after a cancel at the timeout; None when that read fails (said on stderr)."""
    try:
        return task.get()
    except CirelayError as exc:
        log(f"could not read {task.what} after cancelling it: {exc.message}")
        return None


def has_task_id(answer: Dict[str, Any], workflow: str, wait: bool) -> bool:
    """Whether a start answer names its task; if not, fail a --wait (exit 1) or print the answer with a warning."""
    if answer.get("task_id"):
        return True
    if wait:
        raise CirelayError(_NO_TASK_ID, result=answer)
    log(f"warning: {_NO_TASK_ID}")
    emit(answer, summary={"workflow": workflow, "task": "started (no task_id in the answer)"})
    return False


def answer_or_follow(
    answer: Dict[str, Any], task: Task, *, wait: bool, timeout: float, poll_max: float, cancel_on_timeout: bool
) -> None:
    """After a start, restart or retry: print Zadig's answer, or with --wait follow the task to its end."""
    if not wait:
        finish(answer, task)
        return
    follow(task, timeout=timeout, poll_max=poll_max, cancel_on_timeout=cancel_on_timeout)


def first_then(first: Dict[str, Any], poll: Callable[[], Dict[str, Any]]) -> Callable[[], Dict[str, Any]]:
    """A poll that hands back an already fetched state once, then polls."""
    pending = [first]

    def next_state() -> Dict[str, Any]:
        if pending:
            return pending.pop()
        return poll()

    return next_state


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --url (ZADIG_URL) to a command and hand it `make_client`, which checks it and ZADIG_TOKEN (exit 2).

    The command calls it when it needs the client, so its own options are checked first.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, url: Optional[str], **kwargs: Any) -> Any:
        return command(*args, make_client=lambda: client_from(url), **kwargs)

    option = click.option(
        "--url", envvar="ZADIG_URL", show_envvar=True, help="Zadig base URL, e.g. https://zadig.example.com."
    )
    return option(wrapper)


workflow_option = click.option(
    "-w", "--workflow", required=True, envvar="ZADIG_WORKFLOW", show_envvar=True, help="Workflow name (key)."
)
project_option = click.option(
    "-p", "--project", required=True, envvar="ZADIG_PROJECT", show_envvar=True, help="Project key."
)
id_option = click.option(
    "--id",
    "task_id",
    required=True,
    type=click.IntRange(min=1),
    envvar="ZADIG_TASK_ID",
    show_envvar=True,
    help="Task ID (e.g. the task_id a start printed, exported by an earlier step).",
)


@click.group(cls=CirelayGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="cirelay-zadig")
def cli() -> None:
    """Start Zadig workflow tasks from a CI job and wait for them.

    Every command takes --url (ZADIG_URL). The API token comes only from ZADIG_TOKEN
    (never an option: a command line shows in process lists).
    """


@cli.group(epilog=EXIT_CODES_HELP)
def task() -> None:
    """Legacy workflow tasks (Zadig 3.x and earlier, /api/directory/workflowTask)."""


@task.command("list")
@connection_options
@click.option(
    "--commit-id", required=True, callback=check_commit_id, help="Commit SHA, whole or its first 8+ characters."
)
def task_list(make_client: Callable[[], ZadigClient], commit_id: str) -> None:
    """List the tasks Zadig ran for a commit (GitLab commits only, a Zadig limit)."""
    tasks = make_client().list_tasks(commit_id)
    emit(tasks, outputs={"count": str(len(tasks))}, summary={"commit": commit_id, "tasks": len(tasks)})


@task.command("create")
@connection_options
@workflow_option
@click.option("-e", "--env", "env_name", required=True, envvar="ZADIG_ENV", show_envvar=True, help="Environment.")
@click.option(
    "--image", "images", multiple=True, type=KeyValue(), metavar="SERVICE=IMAGE", help="Deploy this image (repeatable)."
)
@click.option(
    "--build",
    "builds",
    multiple=True,
    type=BuildSpec(),
    help="Build SERVICE from REPO at BRANCH (or pull request PR); repeat for more repos or services.",
)
@click.option("--service-type", type=click.Choice(SERVICE_TYPES), default="k8s", show_default=True, help="Deploy kind.")
@wait_options(wait_flag=True)
def task_create(
    make_client: Callable[[], ZadigClient],
    *,
    workflow: str,
    env_name: str,
    images: Tuple[Tuple[str, str], ...],
    builds: Tuple[Tuple[str, str, str, int], ...],
    service_type: str,
    wait: bool,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Start a task of a legacy workflow with images to deploy and/or services to build."""
    if not images and not builds:
        raise click.UsageError("give at least one --image SERVICE=IMAGE or --build SERVICE:REPO@BRANCH")
    for service, image in images:
        if not image.strip():
            raise click.UsageError(f"--image {service}= names no image")
    client = make_client()
    answer = client.create_task(task_body(workflow, env_name, images, builds, service_type))
    name = str(answer.get("workflow_name") or workflow)
    if not has_task_id(answer, name, wait):
        return
    task = Task(client, name, answer["task_id"], custom=False, project=answer.get("project_name"))
    log(f"started task {task.task_id} of workflow {name}: {task.url}")
    answer_or_follow(answer, task, wait=wait, timeout=timeout, poll_max=poll_max, cancel_on_timeout=cancel_on_timeout)


@task.command("get")
@connection_options
@workflow_option
@id_option
def task_get(make_client: Callable[[], ZadigClient], workflow: str, task_id: int) -> None:
    """Show one legacy task and its status."""
    task = Task(make_client(), workflow, task_id, custom=False)
    finish(task.get(), task)


@task.command("restart")
@connection_options
@workflow_option
@id_option
@wait_options(wait_flag=True)
def task_restart(
    make_client: Callable[[], ZadigClient],
    *,
    workflow: str,
    task_id: int,
    wait: bool,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Restart a failed, timed-out or cancelled legacy task (the same task ID runs again)."""
    client = make_client()
    answer = client.restart_task(workflow, task_id)
    log(f"restarted task {task_id} of workflow {workflow}")
    task = Task(client, workflow, task_id, custom=False, restarted=True)
    answer_or_follow(answer, task, wait=wait, timeout=timeout, poll_max=poll_max, cancel_on_timeout=cancel_on_timeout)


@task.command("cancel")
@connection_options
@workflow_option
@id_option
def task_cancel(make_client: Callable[[], ZadigClient], workflow: str, task_id: int) -> None:
    """Cancel a legacy task."""
    task = Task(make_client(), workflow, task_id, custom=False)
    finish(task.cancel(), task)


@task.command("wait")
@connection_options
@workflow_option
@id_option
@wait_options(wait_flag=False)
def task_wait(
    make_client: Callable[[], ZadigClient],
    *,
    workflow: str,
    task_id: int,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Wait for a legacy task to finish: exit 0 when it passed, 1 when it ended otherwise, 3 on timeout."""
    follow(
        Task(make_client(), workflow, task_id, custom=False),
        timeout=timeout,
        poll_max=poll_max,
        cancel_on_timeout=cancel_on_timeout,
    )


@cli.group(epilog=EXIT_CODES_HELP)
def custom() -> None:
    """Custom workflow tasks (Zadig v4 and later, /openapi/workflows/custom)."""


@custom.command("run")
@connection_options
@project_option
@workflow_option
@click.option("--param", "params", multiple=True, type=KeyValue(), help="Workflow parameter NAME=VALUE (repeatable).")
@click.option(
    "--inputs",
    type=JsonArg(list),
    help="Job inputs as a JSON array ([{job_name, job_type, parameters}]), inline, @file or - for stdin.",
)
@wait_options(wait_flag=True)
def custom_run(
    make_client: Callable[[], ZadigClient],
    *,
    project: str,
    workflow: str,
    params: Tuple[Tuple[str, str], ...],
    inputs: Optional[List[Any]],
    wait: bool,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Start a task of a custom workflow with parameters and job inputs."""
    client = make_client()
    parameters = [{"name": name, "value": value} for name, value in params]
    answer = client.run_custom(project, workflow, parameters, inputs or [])
    if not has_task_id(answer, workflow, wait):
        return
    task = Task(client, workflow, answer["task_id"], custom=True, project=project)
    log(f"started task {task.task_id} of workflow {workflow}: {task.url}")
    answer_or_follow(answer, task, wait=wait, timeout=timeout, poll_max=poll_max, cancel_on_timeout=cancel_on_timeout)


@custom.command("get")
@connection_options
@workflow_option
@id_option
def custom_get(make_client: Callable[[], ZadigClient], workflow: str, task_id: int) -> None:
    """Show one custom workflow task with its stages and jobs."""
    client = make_client()
    found = client.get_custom(workflow, task_id)
    finish(found, Task(client, workflow, task_id, custom=True, project=found.get("project_key")))


@custom.command("cancel")
@connection_options
@workflow_option
@id_option
def custom_cancel(make_client: Callable[[], ZadigClient], workflow: str, task_id: int) -> None:
    """Cancel a custom workflow task."""
    task = Task(make_client(), workflow, task_id, custom=True)
    finish(task.cancel(), task)


@custom.command("retry")
@connection_options
@project_option
@workflow_option
@id_option
@wait_options(wait_flag=True)
def custom_retry(
    make_client: Callable[[], ZadigClient],
    *,
    project: str,
    workflow: str,
    task_id: int,
    wait: bool,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Retry a failed custom workflow task (the same task ID runs again)."""
    client = make_client()
    answer = client.retry_custom(project, workflow, task_id)
    task = Task(client, workflow, task_id, custom=True, project=project, restarted=True)
    log(f"retried task {task_id} of workflow {workflow}: {task.url}")
    answer_or_follow(answer, task, wait=wait, timeout=timeout, poll_max=poll_max, cancel_on_timeout=cancel_on_timeout)


@custom.command("wait")
@connection_options
@workflow_option
@id_option
@wait_options(wait_flag=False)
def custom_wait(
    make_client: Callable[[], ZadigClient],
    *,
    workflow: str,
    task_id: int,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Wait for a custom workflow task: exit 0 when it passed, 1 when it ended otherwise, 3 on timeout."""
    client = make_client()
    first = client.get_custom(workflow, task_id)
    task = Task(client, workflow, task_id, custom=True, project=first.get("project_key"))
    follow(task, timeout=timeout, poll_max=poll_max, cancel_on_timeout=cancel_on_timeout, first=first)


if __name__ == "__main__":
    cli()
