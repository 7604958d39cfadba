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
from cirelay.http import api_request, make_session, raise_for_status, redact, send
from cirelay.output import log, mask

# The CodeArts Pipeline endpoint of every region Huawei's SDK knows (huaweicloudsdkcodeartspipeline
# v2/region/codeartspipeline_region.py, 15 regions), plus the European site's eu-west-101 (Huawei's EU
# endpoint page: pipeline-external.eu-west-101.myhuaweicloud.eu; its IAM is on the same .eu domain).
REGION_ENDPOINTS = {
    **{
        region: f"https://cloudpipeline-ext.{region}.myhuaweicloud.com"
        for region in (
            "cn-north-1",
            "cn-north-4",
            "cn-south-1",
            "cn-south-2",
            "cn-east-3",
            "cn-east-2",
            "cn-southwest-2",
            "ap-southeast-3",
            "sa-brazil-1",
            "la-north-2",
        )
    },
    "tr-west-1": "https://pipeline-external.tr-west-1.myhuaweicloud.com",
    "la-south-2": "https://pipeline-external.la-south-2.myhuaweicloud.com",
    "af-north-1": "https://pipeline.af-north-1.myhuaweicloud.com",
    "me-east-1": "https://pipeline.me-east-1.myhuaweicloud.com",
    "af-south-1": "https://pipeline.af-south-1.myhuaweicloud.com",
    "eu-west-101": "https://pipeline-external.eu-west-101.myhuaweicloud.eu",
}
# huaweicloudsdkcore auth/internal.py IamHelper: HUAWEICLOUD_SDK_IAM_ENDPOINT, default https://iam.myhuaweicloud.com;
# the SDK's user manual sends European site users to https://iam.eu-west-101.myhuaweicloud.eu.
IAM_ENDPOINT_VARS = ("HUAWEICLOUD_SDK_IAM_ENDPOINT", "HUAWEICLOUD_IAM_ENDPOINT")  # the SDK's name, then ours
HUAWEI_DOMAINS = ("myhuaweicloud.com", "myhuaweicloud.eu")

# Run statuses (ShowPipelineRunDetailResponse.status): the ones that end a run, and how each ends the wait.
RUN_SUCCESS = "COMPLETED"
# IGNORED: the pipeline's concurrency rule dropped the run (PipelineConcurrencyMgmt.exceed_action
# "ABORT: 忽略不执行", not executed): nothing ran, so a wait must not pass it.
RUN_IGNORED = "IGNORED"
RUN_FAILURES = ("FAILED", "CANCELED", RUN_IGNORED)
RUN_WAITING_FOR_PEOPLE = ("PAUSED", "SUSPEND")
RUN_STATUSES = ("COMPLETED", "RUNNING", "FAILED", "CANCELED", "PAUSED", "SUSPEND", "IGNORED", "QUEUED", "INIT")
# JobRun.status values of a job that never ran: no log to read.
JOB_NOT_RUN = ("INIT", "QUEUED", "SKIPPED", "UNSELECTED")
JOB_WAITING_FOR_REVIEW = "PAUSED"  # a manual review job waiting for its decision (JobRun.status)

# Template task statuses (ShowInstanceStatusResponse.task_status): initializing, processing, finished,
# succeeded. The first two keep the wait going; finished/succeeded end it (with the pipeline it made, or a
# failure when it made none). failed/error are not SDK values but end it too; any other value keeps waiting
# until the timeout.
TEMPLATE_DONE = ("succeeded", "finished")
TEMPLATE_FAILED = ("failed", "error")

# RunPipelineDTOParams: what a run's code source may carry (build_params is set from --branch/--tag).
_RUN_SOURCE_PARAMS = ("git_type", "alias", "codehub_id", "default_branch", "git_url", "endpoint_id")

# The Content-Type each operation's `*_http_info` sets (huaweicloudsdkcore http_utils.select_header_content_type):
# application/json;charset=UTF-8 for list_pipelines, list_pipeline_runs, run_pipeline, retry_pipeline_run,
# show_pipeline_log and batch_show_pipelines_latest_status, application/json for the others.
JSON_UTF8 = "application/json;charset=utf-8"

PAGE_SIZE = 50  # pipelines and runs per list request
LOG_PAGE_LINES = 500  # log lines per request, as the API reference's example asks for
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_NO_CREDENTIALS = (
    "no CodeArts credentials: set one of CODEARTS_TOKEN; HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK; "
    "or HUAWEICLOUD_USERNAME, HUAWEICLOUD_PASSWORD and HUAWEICLOUD_DOMAIN"
)
_NO_ENDPOINT = "missing the CodeArts endpoint: pass --endpoint or --region, or set CODEARTS_ENDPOINT or CODEARTS_REGION"
_REFUSED_AT_ONCE = "CodeArts refused the token IAM had just issued (HTTP 401): check the user's permissions"
_TOKEN_FAILED = "IAM did not accept the user name, password and domain"  # noqa: S105 - a message
_MESSAGES_401 = {401: "authentication failed (HTTP 401): check CODEARTS_TOKEN or the access key pair"}


def endpoint_for_region(region: str) -> str:
    """The CodeArts Pipeline endpoint of a Huawei Cloud region; exit 2 naming the known ones for another."""
    endpoint = REGION_ENDPOINTS.get(region)
    if endpoint is None:
        raise InputError(
            f"unknown CodeArts region {region!r}: known regions are {', '.join(sorted(REGION_ENDPOINTS))};"
            " for another, set CODEARTS_ENDPOINT (or --endpoint)"
        )
    return endpoint


def iam_endpoint_for_region(region: str, endpoint: str = "") -> str:
    """IAM's endpoint for a region: on the region's own domain (.myhuaweicloud.eu for the European site)."""
    if not region:
        return "https://iam.myhuaweicloud.com"
    host = urlsplit(REGION_ENDPOINTS.get(region) or endpoint).hostname or ""
    domain = next((d for d in HUAWEI_DOMAINS if host.endswith("." + d)), HUAWEI_DOMAINS[0])
    return f"https://iam.{region}.{domain}"


class SdkHmacAuth(requests.auth.AuthBase):
    """Signs a request with an access key pair the way Huawei Cloud's SDKs do (SDK-HMAC-SHA256).

    Signed: the headers the SDK sets and signs (huaweicloudsdkcore signer.py _process_signed_headers signs
    every header it sends): Host, X-Sdk-Date, Content-Type, User-Agent, and X-Project-Id and X-Security-Token
    when set. With a security token (temporary credentials of an agency or an OIDC federation) it is sent as
    X-Security-Token, as the SDK's credentials do (auth/credentials.py sign_request). The canonical request is
    METHOD, the path with every segment URL-encoded and a trailing '/', the sorted query, the signed headers
    as 'name:value' lines, their names, and the SHA-256 of the body.
    """

    SIGNED = ("content-type", "host", "user-agent", "x-project-id", "x-sdk-date", "x-security-token")

    def __init__(
        self,
        ak: str,
        sk: str,
        project_id: Optional[str] = None,
        clock: Callable[[], float] = time.time,
        security_token: Optional[str] = None,
    ):
        self.ak = ak
        self._sk = sk
        self.project_id = project_id
        self._clock = clock
        self._security_token = security_token

    def __repr__(self) -> str:  # never show the secret key or the security token
        return f"SdkHmacAuth(ak={self.ak!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        request.headers["X-Sdk-Date"] = time.strftime(SDK_DATE_FORMAT, time.gmtime(self._clock()))
        if "Host" not in request.headers:
            request.headers["Host"] = parts.netloc.rpartition("@")[2]
        if self.project_id:
            request.headers["X-Project-Id"] = self.project_id
        if self._security_token:
            request.headers["X-Security-Token"] = self._security_token
        names = sorted(k.lower() for k in request.headers if k.lower() in self.SIGNED)
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
        security_token = env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN", "").strip()
        if security_token:
            _header_safe(security_token, "HUAWEICLOUD_SDK_SECURITY_TOKEN")
        return {
            "kind": "aksk",
            "ak": ak,
            "sk": sk,
            "project_id": env.get("HUAWEICLOUD_SDK_PROJECT_ID", "").strip(),
            "security_token": security_token,
        }
    user = {k: env.get(f"HUAWEICLOUD_{k.upper()}", "").strip() for k in ("username", "password", "domain")}
    if any(user.values()):
        missing = [f"HUAWEICLOUD_{k.upper()}" for k, v in user.items() if not v]
        if missing:
            raise InputError(f"IAM password login needs {', '.join(missing)} too")
        iam = next((env[name].strip() for name in IAM_ENDPOINT_VARS if env.get(name, "").strip()), "")
        return {"kind": "password", **user, "iam_endpoint": iam}
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


def _ordered(items: Any) -> List[Dict[str, Any]]:
    """Stages, jobs or steps in their "sequence" order."""
    return sorted(items or [], key=lambda i: (i.get("sequence") is None, i.get("sequence") or 0))


def review_steps(run: Dict[str, Any]) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """(job, step) of every manual review waiting for its decision: a PAUSED job's unfinished steps."""
    found = []
    for stage in _ordered(run.get("stages")):
        for job in _ordered(stage.get("jobs")):
            if job.get("status") != JOB_WAITING_FOR_REVIEW:
                continue
            for step in _ordered(job.get("steps")):
                if step.get("status") not in ("COMPLETED", "FAILED", "CANCELED"):
                    found.append((job, step))
    return found


def describe_run(run: Dict[str, Any]) -> str:
    """'RUNNING: Build COMPLETED, Deploy RUNNING' with a note when someone has to act or nothing ran."""
    status = str(run.get("status") or "UNKNOWN")
    stages = _ordered(run.get("stages"))
    text = status
    reviews = review_steps(run) if status in RUN_WAITING_FOR_PEOPLE else []
    if reviews:
        names = ", ".join(sorted({str(job.get("name") or job.get("id")) for job, _ in reviews}))
        text += f" (waiting for a manual review: {names}; `run review` passes or refuses it)"
    elif status in RUN_WAITING_FOR_PEOPLE:
        text += " (waiting for someone: a manual review, a pause or a suspended stage)"
    elif status == RUN_IGNORED:
        text += " (ignored by the pipeline's concurrency rule: nothing ran)"
    shown = [f"{s.get('name') or s.get('identifier') or '?'} {s.get('status') or '-'}" for s in stages]
    return f"{text}: {', '.join(shown)}" if shown else text


def run_outcome(run: Dict[str, Any]) -> Tuple[str, str]:
    """The waiter's view of a run: success, failure or pending, and what to show."""
    status = str(run.get("status") or "")
    if status == RUN_SUCCESS:
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


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Per-request auth that adds nothing, overriding the session's (requests merges None away)."""
    return request


_NO_AUTH = _no_auth


class CodeArtsClient:
    """CodeArts Pipeline's API over a requests.Session (no click here)."""

    def __init__(self, endpoint: str, project_id: Optional[str], credentials: Dict[str, str], region: str = ""):
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.region = region or _region_of(self.endpoint)
        self._credentials = credentials
        self._auth: Optional[requests.auth.AuthBase] = None
        self._token_worked = False  # the current IAM token has been accepted at least once
        self.session = make_session()
        self.once = make_session(retry_unsafe=False)  # for POSTs that start or create something

    # -- plumbing --------------------------------------------------------------------------
    def _authenticate(self) -> requests.auth.AuthBase:
        if self._auth is None:
            creds = self._credentials
            if creds["kind"] == "token":
                self._auth = TokenAuth(creds["token"])
            elif creds["kind"] == "aksk":
                self._auth = SdkHmacAuth(
                    creds["ak"],
                    creds["sk"],
                    creds.get("project_id") or None,
                    security_token=creds.get("security_token") or None,
                )
            else:
                self._auth = TokenAuth(self.login())
            self.session.auth = self.once.auth = self._auth
        return self._auth

    def login(self) -> str:
        """Exchange the IAM user name and password for a token (the X-Subject-Token header)."""
        creds = self._credentials
        iam = (creds.get("iam_endpoint") or "").rstrip("/")
        if not iam:
            iam = iam_endpoint_for_region(self.region, self.endpoint)
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
            # auth=None: the session may still hold the expired token; IAM gets only the password body.
            response = send(self.session, "POST", url, json=body, auth=_NO_AUTH)
            raise_for_status(response, {401: _TOKEN_FAILED + " (HTTP 401)", 403: _TOKEN_FAILED + " (HTTP 403)"})
        except CirelayError as exc:
            raise redact(exc, creds.get("password"))  # IAM may quote the request back
        token = response.headers.get("X-Subject-Token", "")
        if not token:
            raise CirelayError(f"IAM answered POST {url} without an X-Subject-Token header", url=url)
        mask(token)
        return token

    def _call(
        self, method: str, path: str, *, once: bool = False, content_type: str = "application/json", **kwargs: Any
    ) -> Any:
        """One API request; with an IAM password login, a token that has worked and is refused is renewed.

        The SDK sends Content-Type on every operation, GET included (each `*_http_info` sets it). A 401 is the
        gateway refusing the request before anything happened, so resending it (even a run start) is safe:
        the token is renewed and the request sent again as often as tokens expire. A token refused on its
        first use is a credentials problem: no loop.
        """
        messages = dict(_MESSAGES_401)
        messages.update(kwargs.pop("messages", {}))
        session = self.once if once else self.session
        url = f"{self.endpoint}{path}"
        while True:
            self._authenticate()
            try:
                answer = api_request(
                    session, method, url, messages=messages, headers={"Content-Type": content_type}, **kwargs
                )
            except CirelayError as exc:
                if exc.status != 401 or self._credentials["kind"] != "password":
                    # An answer from the API itself (not a gateway's 5xx) shows the token got through.
                    self._token_worked = self._token_worked or (exc.status is not None and exc.status < 500)
                    raise
                if not self._token_worked:
                    raise CirelayError(
                        f"{_REFUSED_AT_ONCE}: {exc.api_message or 'refused'} (401, {method} {url})",
                        status=401,
                        url=url,
                    )
                log("the IAM token is no longer accepted (HTTP 401): signing in again")
                self._auth = None
                self._token_worked = False
                continue
            self._token_worked = True
            return answer

    def _v5(self, path: str) -> str:
        if not self.project_id:
            raise CirelayError("missing --project-id: pass it or set CODEARTS_PROJECT_ID", exit_code=EXIT_USAGE)
        return f"/v5/{self.project_id}/api{path}"

    def _pages(self, path: str, body: Dict[str, Any], key: str, limit: Optional[int]) -> List[Any]:
        items: List[Any] = []
        offset = 0
        while limit is None or len(items) < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            page = (
                self._call("POST", path, json={**body, "offset": offset, "limit": size}, content_type=JSON_UTF8) or {}
            )
            batch = page.get(key) or []
            items.extend(batch)
            offset += len(batch)
            total = page.get("total")
            # Not "a short page is the last": a server may cap the page below what was asked (the emulator does).
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
        *,
        jobs: Tuple[str, ...] = (),
        stages: Tuple[str, ...] = (),
    ) -> Dict[str, Any]:
        """Start a run (sent once, never retried); answers {pipeline_run_id}.

        The body is RunPipelineDTO: variables, description, sources, choose_jobs, choose_stages.
        """
        body: Dict[str, Any] = {"variables": [{"name": k, "value": v} for k, v in variables]}
        if description:
            body["description"] = description
        if jobs:
            body["choose_jobs"] = list(jobs)
        if stages:
            body["choose_stages"] = list(stages)
        if branch or tag:
            body["sources"] = self._sources_for(pipeline_id, branch, tag)
        answer = self._call(
            "POST",
            self._v5(f"/pipelines/{pipeline_id}/run"),
            once=True,
            json=body,
            content_type=JSON_UTF8,
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
            # RunPipelineDTOParams has these fields; the SDK leaves out the ones that are None.
            params = {
                k: v for k, v in (source.get("params") or {}).items() if k in _RUN_SOURCE_PARAMS and v is not None
            }
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
        """A pipeline's runs, newest first.

        ListPipelineRunsQuery: sort_dir is asc/desc (lower case); start_time/end_time are strings (epoch
        milliseconds or yyyy-MM-dd HH:mm:ss).
        """
        body: Dict[str, Any] = {"sort_key": "start_time", "sort_dir": "desc"}
        if statuses:
            body["status"] = statuses
        if since is not None:
            body["start_time"] = str(since)
        if until is not None:
            body["end_time"] = str(until)
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
        """A step's whole log, every line once, in order.

        As Huawei's API page documents ShowPipelineLog: the first request asks from the start
        (start_offset 0, end_offset 0); each answer's start_offset and end_offset go back into the next
        request's start_offset and end_offset, while has_more. An answer whose end_offset does not move
        ends the paging rather than loop.
        """
        path = self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/jobs/{job_run_id}/steps/{step_run_id}/logs")
        chunks: List[str] = []
        start, end = 0, 0
        while True:
            page = self._call(
                "POST",
                path,
                json={"start_offset": start, "end_offset": end, "limit": LOG_PAGE_LINES, "sort": "asc"},
                content_type=JSON_UTF8,
                messages={404: f"no log for step {step_run_id} of job {job_run_id} in run {run_id}"},
            )
            page = page or {}
            try:
                next_start, next_end = int(page.get("start_offset") or 0), int(page.get("end_offset") or 0)
            except (TypeError, ValueError):
                chunks.append(str(page.get("log") or ""))
                break  # offsets we cannot send back: what we have is all we can read
            if end and (next_start, next_end) == (start, end):
                break  # the window we already have, handed back: nothing new, and never a line twice
            chunks.append(str(page.get("log") or ""))
            if not page.get("has_more") or next_end <= end:
                break  # done, or the API made no progress: stop rather than loop forever
            start, end = next_start, next_end
        return "".join(chunks)

    def retry_run(self, pipeline_id: str, run_id: str) -> Dict[str, Any]:
        """Retry a run that failed (PUT …/retry, SDK retry_pipeline_run); the same run goes on. Sent once."""
        answer = self._call(
            "PUT",
            self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/retry"),
            once=True,
            content_type=JSON_UTF8,
            messages={404: f"run {run_id} of pipeline {pipeline_id} not found"},
        )
        if isinstance(answer, dict) and answer.get("success") is False:
            raise CirelayError(f"CodeArts did not retry run {run_id} of pipeline {pipeline_id}", result=answer)
        return answer if isinstance(answer, dict) else {"success": True}

    def review(
        self,
        pipeline_id: str,
        run_id: str,
        job_run_id: str,
        step_run_id: str,
        *,
        accept: bool,
        description: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Pass or refuse a manual review (SDK accept_manual_review / reject_manual_review). Sent once."""
        action = "pass" if accept else "refuse"
        answer = self._call(
            "POST",
            self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/jobs/{job_run_id}/steps/{step_run_id}/{action}"),
            once=True,
            params={"approval_description": description} if description else None,
            messages={404: f"step {step_run_id} of job {job_run_id} in run {run_id} not found"},
        )
        if isinstance(answer, dict) and answer.get("success") is False:
            raise CirelayError(f"CodeArts did not {action} the review of run {run_id}", result=answer)
        return answer if isinstance(answer, dict) else {"success": True}

    def artifacts(self, pipeline_id: str, run_id: str) -> List[Dict[str, Any]]:
        """The run's build artifacts (SDK show_pipeline_artifacts: {artifacts: [Artifact]})."""
        answer = self._call(
            "GET",
            self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/artifacts"),
            messages={404: f"run {run_id} of pipeline {pipeline_id} not found"},
        )
        return list((answer or {}).get("artifacts") or [])

    def step_outputs(self, pipeline_id: str, run_id: str, step_run_ids: List[str]) -> List[Dict[str, Any]]:
        """What the steps output (SDK show_step_outputs; step_run_ids comma-separated)."""
        answer = self._call(
            "GET",
            self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/steps/outputs"),
            params={"step_run_ids": ",".join(step_run_ids)},
            messages={404: f"run {run_id} of pipeline {pipeline_id} not found"},
        )
        return list((answer or {}).get("step_outputs") or [])

    def latest_status(self, pipeline_ids: List[str]) -> List[Dict[str, Any]]:
        """Each pipeline's latest run (SDK batch_show_pipelines_latest_status: a list of IDs in, a list out)."""
        path = self._v5("/pipelines/status")
        answer = self._call("POST", path, json=list(pipeline_ids), content_type=JSON_UTF8)
        return list(answer or [])

    def pipeline_named(self, name: str) -> Dict[str, Any]:
        """The one pipeline whose name is exactly this; exit 2 when none or several are."""
        found = [p for p in self.list_pipelines(name) if p.get("name") == name]
        if not found:
            raise CirelayError(f"no pipeline is named {name!r} in project {self.project_id}", exit_code=EXIT_USAGE)
        if len(found) > 1:
            ids = ", ".join(str(p.get("pipeline_id")) for p in found)
            raise CirelayError(
                f"{len(found)} pipelines are named {name!r} ({ids}): pass --pipeline-id", exit_code=EXIT_USAGE
            )
        return found[0]

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
    """cn-north-4 from https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com (or .eu), else ''."""
    host = urlsplit(endpoint).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and ".".join(parts[-2:]) in HUAWEI_DOMAINS:
        return parts[-3]
    return ""
