"""Huawei CodeArts Pipeline's API client: credentials (IAM token, AK/SK signing), runs, logs, templates."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests

from cirelay.errors import EXIT_USAGE, CirelayError, InputError
from cirelay.http import api_request, make_session, raise_for_status
from cirelay.output import mask

# Regions whose CodeArts Pipeline endpoint is not cloudpipeline-ext.<region>.myhuaweicloud.com
# (huaweicloud-sdk-python-v3, huaweicloudsdkcodeartspipeline/v2/region/codeartspipeline_region.py).
REGION_HOST_PREFIX = {
    "tr-west-1": "pipeline-external",
    "la-south-2": "pipeline-external",
    "af-north-1": "pipeline",
    "me-east-1": "pipeline",
    "af-south-1": "pipeline",
}
DEFAULT_HOST_PREFIX = "cloudpipeline-ext"

# Run statuses (ShowPipelineRunDetail): the ones that end a run, and how each ends the wait.
RUN_SUCCESS = "COMPLETED"
RUN_FAILURES = ("FAILED", "CANCELED")
RUN_IGNORED = "IGNORED"  # terminal; the run was skipped (e.g. a newer one superseded it)
RUN_WAITING_FOR_PEOPLE = ("PAUSED", "SUSPEND")
RUN_STATUSES = ("COMPLETED", "RUNNING", "FAILED", "CANCELED", "PAUSED", "SUSPEND", "IGNORED", "QUEUED", "INIT")

# Template task statuses (ShowInstanceStatus): initializing, processing, finished, succeeded.
TEMPLATE_DONE = ("succeeded", "finished")
TEMPLATE_FAILED = ("failed", "error")

PAGE_SIZE = 50  # pipelines and runs per list request
LOG_PAGE_LINES = 500  # log lines per request, as the API reference's example asks for
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_NO_CREDENTIALS = (
    "no CodeArts credentials: set one of CODEARTS_TOKEN; HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK; "
    "or HUAWEICLOUD_USERNAME, HUAWEICLOUD_PASSWORD and HUAWEICLOUD_DOMAIN"
)
_NO_ENDPOINT = "missing the CodeArts endpoint: pass --endpoint or --region, or set CODEARTS_ENDPOINT or CODEARTS_REGION"
_TOKEN_FAILED = "IAM did not accept the user name, password and domain"  # noqa: S105 - a message
_MESSAGES_401 = {401: "authentication failed (HTTP 401): check CODEARTS_TOKEN or the access key pair"}


def endpoint_for_region(region: str) -> str:
    """The CodeArts Pipeline endpoint of a Huawei Cloud region."""
    prefix = REGION_HOST_PREFIX.get(region, DEFAULT_HOST_PREFIX)
    return f"https://{prefix}.{region}.myhuaweicloud.com"


class SdkHmacAuth(requests.auth.AuthBase):
    """Signs a request with an access key pair the way Huawei Cloud's SDKs do (SDK-HMAC-SHA256).

    Signed: Host, X-Sdk-Date, Content-Type and X-Project-Id when present. The canonical request
    is METHOD, the path with every segment URL-encoded and a trailing '/', the sorted query,
    the signed headers as 'name:value' lines, their names, and the SHA-256 of the body.
    """

    def __init__(self, ak: str, sk: str, project_id: Optional[str] = None, clock: Callable[[], float] = time.time):
        self.ak = ak
        self._sk = sk
        self.project_id = project_id
        self._clock = clock

    def __repr__(self) -> str:  # never show the secret key
        return f"SdkHmacAuth(ak={self.ak!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        request.headers["X-Sdk-Date"] = time.strftime(SDK_DATE_FORMAT, time.gmtime(self._clock()))
        if "Host" not in request.headers:
            request.headers["Host"] = parts.netloc.rpartition("@")[2]
        if self.project_id:
            request.headers["X-Project-Id"] = self.project_id
        names = sorted(
            k.lower() for k in request.headers if k.lower() in ("host", "x-sdk-date", "content-type", "x-project-id")
        )
        values = {k.lower(): str(v).strip() for k, v in request.headers.items()}
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        canonical = "\n".join(
            [
                (request.method or "GET").upper(),
                canonical_uri(parts.path),
                canonical_query(parts.query),
                "".join(f"{name}:{values[name]}\n" for name in names),
                ";".join(names),
                hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256,
            ]
        )
        to_sign = "\n".join(
            ["SDK-HMAC-SHA256", request.headers["X-Sdk-Date"], hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
        )
        signature = hmac.new(self._sk.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        request.headers["Authorization"] = (
            f"SDK-HMAC-SHA256 Access={self.ak}, SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return request


def canonical_uri(path: str) -> str:
    """Every path segment URL-encoded (only '~' left alone), always ending in '/'."""
    encoded = "/".join(quote(segment, safe="~") for segment in unquote(path or "/").split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(query: str) -> str:
    """The query's pairs sorted, each name and value URL-encoded."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


class TokenAuth(requests.auth.AuthBase):
    """Sends an IAM token as X-Auth-Token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "TokenAuth(***)"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Auth-Token"] = self._token
        return request


def _header_safe(value: str, name: str) -> None:
    """Exit 2 when a credential sent in a header (or signing one) holds what a header cannot.

    A line break inside, a control or a non-ASCII character would make requests/http.client fail
    with an error that quotes the header's value, the secret; the message names only the variable.
    """
    if not all("\x21" <= char <= "\x7e" for char in value):
        raise InputError(
            f"{name} holds a line break, a space, a control or a non-ASCII character, which it cannot"
            " have: check how the secret was set"
        )


def credentials_from_env(env: Dict[str, str]) -> Dict[str, str]:
    """The first complete set of credentials in the environment; exit 2 when there is none."""
    token = env.get("CODEARTS_TOKEN", "").strip()
    if token:
        _header_safe(token, "CODEARTS_TOKEN")
        return {"kind": "token", "token": token}
    ak, sk = env.get("HUAWEICLOUD_SDK_AK", "").strip(), env.get("HUAWEICLOUD_SDK_SK", "").strip()
    if ak or sk:
        if not (ak and sk):
            unset = "HUAWEICLOUD_SDK_SK" if ak else "HUAWEICLOUD_SDK_AK"
            raise InputError(f"HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK go together: {unset} is not set")
        _header_safe(ak, "HUAWEICLOUD_SDK_AK")
        _header_safe(sk, "HUAWEICLOUD_SDK_SK")
        return {"kind": "aksk", "ak": ak, "sk": sk, "project_id": env.get("HUAWEICLOUD_SDK_PROJECT_ID", "").strip()}
    user = {k: env.get(f"HUAWEICLOUD_{k.upper()}", "").strip() for k in ("username", "password", "domain")}
    if any(user.values()):
        missing = [f"HUAWEICLOUD_{k.upper()}" for k, v in user.items() if not v]
        if missing:
            raise InputError(f"IAM password login needs {', '.join(missing)} too")
        return {"kind": "password", **user, "iam_endpoint": env.get("HUAWEICLOUD_IAM_ENDPOINT", "").strip()}
    raise InputError(_NO_CREDENTIALS)


def _ms(value: Optional[str], option: str) -> Optional[int]:
    """Epoch milliseconds from epoch seconds/milliseconds or an ISO 8601 date/time (UTC unless given)."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.isdigit():
        number = int(text)
        return number if number >= 10**11 else number * 1000
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"expected epoch seconds/ms or an ISO date/time, got {value!r}", param_hint=option)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def describe_run(run: Dict[str, Any]) -> str:
    """'RUNNING: Build COMPLETED, Deploy RUNNING' with a note when someone has to act."""
    status = str(run.get("status") or "UNKNOWN")
    stages = sorted(run.get("stages") or [], key=lambda s: (s.get("sequence") is None, s.get("sequence") or 0))
    text = status
    if status in RUN_WAITING_FOR_PEOPLE:
        text += " (waiting for someone: a manual review, a pause or a suspended stage)"
    shown = [f"{s.get('name') or s.get('identifier') or '?'} {s.get('status') or '-'}" for s in stages]
    return f"{text}: {', '.join(shown)}" if shown else text


def run_outcome(run: Dict[str, Any]) -> Tuple[str, str]:
    """The waiter's view of a run: success, failure or pending, and what to show."""
    status = str(run.get("status") or "")
    if status in (RUN_SUCCESS, RUN_IGNORED):
        return "success", describe_run(run)
    if status in RUN_FAILURES:
        return "failure", describe_run(run)
    return "pending", describe_run(run)


def template_outcome(task: Dict[str, Any]) -> Tuple[str, str]:
    """The waiter's view of a create-from-template task."""
    status = str(task.get("task_status") or "unknown")
    if status in TEMPLATE_DONE:
        if task.get("pipeline_id"):
            return "success", f"{status}: pipeline {task.get('pipeline_name') or task['pipeline_id']}"
        return "failure", f"{status} without creating a pipeline"
    if status in TEMPLATE_FAILED:
        return "failure", status
    return "pending", status


class CodeArtsClient:
    """CodeArts Pipeline's API over a requests.Session (no click here)."""

    def __init__(self, endpoint: str, project_id: Optional[str], credentials: Dict[str, str], region: str = ""):
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.region = region or _region_of(self.endpoint)
        self._credentials = credentials
        self._auth: Optional[requests.auth.AuthBase] = None
        self.session = make_session()
        self.once = make_session(retry_unsafe=False)  # for POSTs that start or create something

    # -- plumbing --------------------------------------------------------------------------
    def _authenticate(self) -> requests.auth.AuthBase:
        if self._auth is None:
            creds = self._credentials
            if creds["kind"] == "token":
                self._auth = TokenAuth(creds["token"])
            elif creds["kind"] == "aksk":
                self._auth = SdkHmacAuth(creds["ak"], creds["sk"], creds.get("project_id") or None)
            else:
                self._auth = TokenAuth(self.login())
            self.session.auth = self.once.auth = self._auth
        return self._auth

    def login(self) -> str:
        """Exchange the IAM user name and password for a token (the X-Subject-Token header)."""
        creds = self._credentials
        iam = (creds.get("iam_endpoint") or "").rstrip("/")
        if not iam:
            iam = f"https://iam.{self.region}.myhuaweicloud.com" if self.region else "https://iam.myhuaweicloud.com"
        scope: Dict[str, Any] = (
            {"project": {"name": self.region}} if self.region else {"domain": {"name": creds["domain"]}}
        )
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": creds["username"],
                            "password": creds["password"],
                            "domain": {"name": creds["domain"]},
                        }
                    },
                },
                "scope": scope,
            }
        }
        url = f"{iam}/v3/auth/tokens"
        try:
            response = self.session.post(url, json=body)
        except requests.exceptions.RequestException as exc:
            raise CirelayError(f"could not complete POST {url}: {type(exc).__name__}: {exc}", url=url)
        raise_for_status(response, {401: _TOKEN_FAILED + " (HTTP 401)", 403: _TOKEN_FAILED + " (HTTP 403)"})
        token = response.headers.get("X-Subject-Token", "")
        if not token:
            raise CirelayError(f"IAM answered POST {url} without an X-Subject-Token header", url=url)
        mask(token)
        return token

    def _call(self, method: str, path: str, *, once: bool = False, **kwargs: Any) -> Any:
        self._authenticate()
        messages = dict(_MESSAGES_401)
        messages.update(kwargs.pop("messages", {}))
        session = self.once if once else self.session
        return api_request(session, method, f"{self.endpoint}{path}", messages=messages, **kwargs)

    def _v5(self, path: str) -> str:
        if not self.project_id:
            raise CirelayError("missing --project-id: pass it or set CODEARTS_PROJECT_ID", exit_code=EXIT_USAGE)
        return f"/v5/{self.project_id}/api{path}"

    def _pages(self, path: str, body: Dict[str, Any], key: str, limit: Optional[int]) -> List[Any]:
        items: List[Any] = []
        offset = 0
        while limit is None or len(items) < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            page = self._call("POST", path, json={**body, "offset": offset, "limit": size}) or {}
            batch = page.get(key) or []
            items.extend(batch)
            offset += len(batch)
            total = page.get("total")
            if not batch or (isinstance(total, int) and offset >= total):
                break
        return items if limit is None else items[:limit]

    def run_url(self, pipeline_id: str, run_id: str, run: Optional[Dict[str, Any]] = None) -> str:
        """The run's page: detail_url from the API, else the API address of the run."""
        if run and run.get("detail_url"):
            return str(run["detail_url"])
        return f"{self.endpoint}{self._v5(f'/pipelines/{pipeline_id}/pipeline-runs/detail')}?pipeline_run_id={run_id}"

    # -- pipelines ---------------------------------------------------------------------------
    def list_pipelines(self, name: Optional[str] = None, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Every pipeline of the project (name matched loosely by the API), all pages."""
        body: Dict[str, Any] = {"sort_key": "name", "sort_dir": "asc"}
        if name:
            body["name"] = name
        return self._pages(self._v5("/pipelines/list"), body, "pipelines", limit)

    def get_pipeline(self, pipeline_id: str) -> Dict[str, Any]:
        """One pipeline's definition, including its code sources."""
        return self._call(
            "GET", self._v5(f"/pipelines/{pipeline_id}"), messages={404: f"pipeline {pipeline_id} not found"}
        )

    # -- runs ----------------------------------------------------------------------------------
    def start_run(
        self,
        pipeline_id: str,
        variables: List[Tuple[str, str]],
        branch: Optional[str] = None,
        tag: Optional[str] = None,
        description: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Start a run (sent once, never retried); answers {pipeline_run_id}."""
        body: Dict[str, Any] = {"variables": [{"name": k, "value": v} for k, v in variables]}
        if description:
            body["description"] = description
        if branch or tag:
            body["sources"] = self._sources_for(pipeline_id, branch, tag)
        answer = self._call(
            "POST",
            self._v5(f"/pipelines/{pipeline_id}/run"),
            once=True,
            json=body,
            messages={404: f"pipeline {pipeline_id} not found"},
        )
        if not isinstance(answer, dict) or not answer.get("pipeline_run_id"):
            raise CirelayError(f"CodeArts started pipeline {pipeline_id} but did not say which run: {answer!r}")
        return answer

    def _sources_for(self, pipeline_id: str, branch: Optional[str], tag: Optional[str]) -> List[Dict[str, Any]]:
        """The pipeline's code sources with the branch or tag to build set on each."""
        pipeline = self.get_pipeline(pipeline_id)
        sources = [s for s in (pipeline.get("sources") or []) if s.get("type", "code") == "code"]
        if not sources:
            raise CirelayError(
                f"pipeline {pipeline_id} has no code source to set --branch/--tag on", exit_code=EXIT_USAGE
            )
        build = {"build_type": "tag", "tag": tag} if tag else {"build_type": "branch", "target_branch": branch}
        build["event_type"] = "Manual"
        result = []
        for source in sources:
            params = {k: v for k, v in (source.get("params") or {}).items() if k != "build_params"}
            params["build_params"] = dict(build)
            result.append({"type": "code", "params": params})
        return result

    def get_run(self, pipeline_id: str, run_id: str) -> Dict[str, Any]:
        """A run's status with its stages, jobs and steps."""
        return self._call(
            "GET",
            self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/detail"),
            params={"pipeline_run_id": run_id},
            messages={404: f"run {run_id} of pipeline {pipeline_id} not found"},
        )

    def list_runs(
        self,
        pipeline_id: str,
        statuses: List[str],
        since: Optional[int] = None,
        until: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """A pipeline's runs, newest first."""
        body: Dict[str, Any] = {"sort_key": "start_time", "sort_dir": "DESC"}
        if statuses:
            body["status"] = statuses
        if since is not None:
            body["start_time"] = since
        if until is not None:
            body["end_time"] = until
        return self._pages(self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/list"), body, "pipeline_runs", limit)

    def stop_run(self, pipeline_id: str, run_id: str) -> Dict[str, Any]:
        """Stop a run."""
        answer = self._call(
            "POST",
            self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/stop"),
            messages={404: f"run {run_id} of pipeline {pipeline_id} not found"},
        )
        if isinstance(answer, dict) and answer.get("success") is False:
            raise CirelayError(f"CodeArts did not stop run {run_id} of pipeline {pipeline_id}", result=answer)
        return answer if isinstance(answer, dict) else {"success": True}

    def step_log(self, pipeline_id: str, run_id: str, job_run_id: str, step_run_id: str) -> str:
        """A step's whole log, paging by end_offset while the API says has_more."""
        path = self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/jobs/{job_run_id}/steps/{step_run_id}/logs")
        chunks: List[str] = []
        start: Any = 0
        while True:
            page = self._call(
                "POST",
                path,
                json={"start_offset": start, "end_offset": 0, "limit": LOG_PAGE_LINES, "sort": "asc"},
                messages={404: f"no log for step {step_run_id} of job {job_run_id} in run {run_id}"},
            )
            page = page or {}
            chunks.append(str(page.get("log") or ""))
            end = page.get("end_offset")
            if not page.get("has_more") or end is None or str(end) == str(start):
                break  # done, or the API made no progress: stop rather than loop forever
            start = end
        return "".join(chunks)

    # -- templates -----------------------------------------------------------------------------
    def create_from_template(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """Create a pipeline (and its tasks) from a template body; answers {task_id}."""
        answer = self._call("POST", "/v3/templates/task", once=True, json=body)
        if not isinstance(answer, dict) or not answer.get("task_id"):
            raise CirelayError(f"CodeArts accepted the template but did not return a task_id: {answer!r}")
        return answer

    def template_status(self, task_id: str) -> Dict[str, Any]:
        """The create-from-template task's status."""
        return self._call(
            "GET", self._template_status_path(task_id), messages={404: f"template task {task_id} not found"}
        )

    def template_status_url(self, task_id: str) -> str:
        """Where the create-from-template task's status is read."""
        return self.endpoint + self._template_status_path(task_id)

    @staticmethod
    def _template_status_path(task_id: str) -> str:
        return f"/v3/templates/{quote(task_id, safe='')}/status"


def _region_of(endpoint: str) -> str:
    """cn-north-4 from https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com, else ''."""
    host = urlsplit(endpoint).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[-2:] == ["myhuaweicloud", "com"]:
        return parts[-3]
    return ""
