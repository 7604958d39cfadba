"""Huawei's own SDK as the test oracle for CodeArts requests.

`sdk_call("list_pipeline_runs", project_id=…, pipeline_id=…, body=ListPipelineRunsQuery(…))` builds the request
the SDK (huaweicloudsdkcodeartspipeline 3.1.x, a test dependency) would send for an operation: its
`CodeArtsPipelineClient._<operation>_http_info(request)` gives the method, resource path, path and query params
and body, and huaweicloudsdkcore turns them into the wire form (path params quoted with safe='', the body
serialised through the models' attribute maps, `client.py` `_parse_path_params` / `_parse_body`).
`assert_sent_as_sdk(request, call)` compares that with what a fake received over the socket.

Only the SDK's public request/model classes and its `*_http_info` class methods are used here; nothing of it is
copied into the project.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple
from urllib.parse import quote, unquote

import huaweicloudsdkcodeartspipeline.v2 as sdk
from huaweicloudsdkcodeartspipeline.v2.codeartspipeline_client import CodeArtsPipelineClient
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization

from cirelay.emulators.base import Request

__all__ = ["SdkCall", "assert_sent_as_sdk", "last", "sdk", "sdk_call"]


@dataclass
class SdkCall:
    operation: str
    method: str
    path: str
    query: List[Tuple[str, str]]
    body: Any  # the JSON value, None when the SDK sends no body
    content_type: Optional[str]


def _camel(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def sdk_call(operation: str, **params: Any) -> SdkCall:
    """The request the SDK builds for `operation` (snake case, e.g. 'show_pipeline_run_detail')."""
    request = getattr(sdk, f"{_camel(operation)}Request")(**params)
    info = getattr(CodeArtsPipelineClient, f"_{operation}_http_info")(request)
    path = info["resource_path"]
    # huaweicloudsdkcore client.py _post_process_params: params whose value is None are left out.
    for name, value in info["path_params"].items():
        if value is None:
            continue
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    assert "{" not in path, f"{operation}: a path parameter is missing: {path}"
    query = [(k, str(v)) for k, v in info["query_params"] if v is not None]
    body = info["body"]
    return SdkCall(
        operation=operation,
        method=info["method"],
        path=path,
        query=query,
        body=None if body is None else sanitize_for_serialization(body),
        content_type=info["header_params"].get("Content-Type"),
    )


def _query_pairs(request: Request) -> List[Tuple[str, str]]:
    return sorted((k, v) for k, values in request.query.items() for v in values)


def assert_sent_as_sdk(request: Request, call: SdkCall) -> None:
    """The request a fake received is the SDK's own construction of `call` (method, path, query, body, Content-Type)."""
    where = f"{call.operation}: {request.method} {request.path}"
    assert request.method == call.method, where
    assert unquote(request.path) == unquote(call.path), where
    assert request.path == call.path, f"{where}: path encoded differently from the SDK's {call.path}"
    assert _query_pairs(request) == sorted(call.query), where
    sent = json.loads(request.body) if request.body else None
    assert sent == call.body, f"{where}: body {sent!r} is not the SDK's {call.body!r}"
    # each *_http_info sets Content-Type, on a GET or a body-less POST too
    assert request.headers.get("content-type") == call.content_type, f"{where}: Content-Type"


def last(fake: Any, method: str, path_regex: str) -> Request:
    """The last request of this method whose path matches, failing when there is none."""
    seen = fake.seen(method, path_regex)
    assert seen, f"no {method} {path_regex} reached the fake"
    return seen[-1]
