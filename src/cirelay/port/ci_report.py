"""The current CI job described as a Port entity (`ci report`)."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

from cirelay.errors import InputError
from cirelay.port.client import _IDENTIFIER_UNSAFE, _given, _now_iso


def ci_entity(
    status: str,
    identifier: Optional[str],
    relations: Tuple[Tuple[str, str], ...],
    properties: Optional[Dict[str, Any]],
    environ: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """The entity describing the current CircleCI or GitHub Actions job, from the CI's own variables."""
    env = dict(os.environ if environ is None else environ)
    get = lambda name: env.get(name) or None  # noqa: E731 - empty variables count as unset
    if env.get("CIRCLECI") == "true":
        provider = "circleci"
        default_id = f"circleci-{get('CIRCLE_WORKFLOW_ID') or 'local'}-{get('CIRCLE_JOB') or 'job'}"
        props = {
            "pipeline": get("CIRCLE_PROJECT_REPONAME"),
            "job": get("CIRCLE_JOB"),
            "url": get("CIRCLE_BUILD_URL"),
            "commit": get("CIRCLE_SHA1"),
            "branch": get("CIRCLE_BRANCH"),
            "tag": get("CIRCLE_TAG"),
            "triggeredBy": get("CIRCLE_USERNAME"),
        }
    elif env.get("GITHUB_ACTIONS") == "true":
        provider = "github"
        default_id = f"github-{get('GITHUB_RUN_ID') or 'local'}-{get('GITHUB_JOB') or 'job'}"
        url = None
        if get("GITHUB_REPOSITORY") and get("GITHUB_RUN_ID"):
            server = (get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
            url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        is_tag = get("GITHUB_REF_TYPE") == "tag"
        props = {
            "pipeline": get("GITHUB_WORKFLOW"),
            "job": get("GITHUB_JOB"),
            "url": url,
            "commit": get("GITHUB_SHA"),
            "branch": get("GITHUB_HEAD_REF") or (None if is_tag else get("GITHUB_REF_NAME")),
            "tag": get("GITHUB_REF_NAME") if is_tag else None,
            "triggeredBy": get("GITHUB_ACTOR"),
        }
    else:
        raise InputError("ci report runs inside CircleCI or GitHub Actions: neither CIRCLECI nor GITHUB_ACTIONS is set")
    props["provider"] = provider
    props["status"] = status
    props["startedAt" if status == "running" else "finishedAt"] = _now_iso()
    merged = _given(**props)
    merged.update(properties or {})
    entity: Dict[str, Any] = {
        "identifier": identifier or _IDENTIFIER_UNSAFE.sub("-", default_id),
        "title": " / ".join(str(p) for p in (props["pipeline"], props["job"]) if p) or default_id,
        "properties": merged,
    }
    related: Dict[str, Any] = {}
    for name, target in relations:
        if name in related:
            previous = related[name]
            related[name] = [*previous, target] if isinstance(previous, list) else [previous, target]
        else:
            related[name] = target
    if related:
        entity["relations"] = related
    return entity
