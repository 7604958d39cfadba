"""The current CI job described as a Port entity (`ci report`), on every CI provider Port's guides cover.

CircleCI, GitHub Actions, GitLab, Jenkins, Azure Pipelines and Codefresh (Port's CI guides), Bitbucket Pipelines
and Buildkite: each is told by its own variables (tests/ci_envs.py names each provider's documentation).
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Optional, Tuple
from urllib.parse import quote

from cirelay.errors import InputError
from cirelay.port.common import _IDENTIFIER_UNSAFE, _given, _now_iso


def _branch_of(ref: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """(branch, tag) of a git ref such as refs/heads/main or refs/tags/v1."""
    if not ref:
        return None, None
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], None
    if ref.startswith("refs/tags/"):
        return None, ref[len("refs/tags/") :]
    if ref.startswith("refs/"):
        return None, None  # refs/pull/7/merge: no branch of its own
    return ref, None


def ci_facts(env: Dict[str, str]) -> Tuple[str, str, Dict[str, Optional[str]]]:  # noqa: PLR0911 - one per provider
    """(provider, default identifier, properties) of the CI job this environment belongs to.

    Each provider is told by its own variables and described from them; the identifier is stable
    across the reports of one job (its run / pipeline / build id and its job name).
    """
    get = lambda name: env.get(name) or None  # noqa: E731 - empty variables count as unset
    if env.get("CIRCLECI") == "true":
        return (
            "circleci",
            f"circleci-{get('CIRCLE_WORKFLOW_ID') or 'local'}-{get('CIRCLE_JOB') or 'job'}",
            {
                "pipeline": get("CIRCLE_PROJECT_REPONAME"),
                "job": get("CIRCLE_JOB"),
                "url": get("CIRCLE_BUILD_URL"),
                "commit": get("CIRCLE_SHA1"),
                "branch": get("CIRCLE_BRANCH"),
                "tag": get("CIRCLE_TAG"),
                "triggeredBy": get("CIRCLE_USERNAME"),
            },
        )
    if env.get("GITHUB_ACTIONS") == "true":
        url = None
        if get("GITHUB_REPOSITORY") and get("GITHUB_RUN_ID"):
            server = (get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
            url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        is_tag = get("GITHUB_REF_TYPE") == "tag"
        return (
            "github",
            f"github-{get('GITHUB_RUN_ID') or 'local'}-{get('GITHUB_JOB') or 'job'}",
            {
                "pipeline": get("GITHUB_WORKFLOW"),
                "job": get("GITHUB_JOB"),
                "url": url,
                "commit": get("GITHUB_SHA"),
                "branch": get("GITHUB_HEAD_REF") or (None if is_tag else get("GITHUB_REF_NAME")),
                "tag": get("GITHUB_REF_NAME") if is_tag else None,
                "triggeredBy": get("GITHUB_ACTOR"),
            },
        )
    if env.get("GITLAB_CI") == "true":
        return (
            "gitlab",
            f"gitlab-{get('CI_PIPELINE_ID') or 'local'}-{get('CI_JOB_NAME') or 'job'}",
            {
                "pipeline": get("CI_PROJECT_PATH"),
                "job": get("CI_JOB_NAME"),
                "url": get("CI_JOB_URL"),
                "commit": get("CI_COMMIT_SHA"),
                "branch": get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or get("CI_COMMIT_BRANCH"),
                "tag": get("CI_COMMIT_TAG"),
                "triggeredBy": get("GITLAB_USER_LOGIN"),
            },
        )
    if env.get("BUILDKITE") == "true":
        url = get("BUILDKITE_BUILD_URL")
        if url and get("BUILDKITE_JOB_ID"):
            url = f"{url}#{env['BUILDKITE_JOB_ID']}"
        step = get("BUILDKITE_STEP_KEY") or get("BUILDKITE_JOB_ID") or "job"
        return (
            "buildkite",
            f"buildkite-{get('BUILDKITE_BUILD_ID') or 'local'}-{step}",
            {
                "pipeline": get("BUILDKITE_PIPELINE_SLUG"),
                "job": get("BUILDKITE_LABEL") or get("BUILDKITE_STEP_KEY"),
                "url": url,
                "commit": get("BUILDKITE_COMMIT"),
                "branch": None if get("BUILDKITE_TAG") else get("BUILDKITE_BRANCH"),
                "tag": get("BUILDKITE_TAG"),
                "triggeredBy": get("BUILDKITE_BUILD_CREATOR"),
            },
        )
    if (env.get("TF_BUILD") or "").lower() == "true":
        url = None
        if get("SYSTEM_COLLECTIONURI") and get("SYSTEM_TEAMPROJECT") and get("BUILD_BUILDID"):
            base = env["SYSTEM_COLLECTIONURI"].rstrip("/")
            url = f"{base}/{quote(env['SYSTEM_TEAMPROJECT'])}/_build/results?buildId={env['BUILD_BUILDID']}"
        branch, tag = _branch_of(get("BUILD_SOURCEBRANCH"))
        pr_branch, _ = _branch_of(get("SYSTEM_PULLREQUEST_SOURCEBRANCH"))
        job = get("SYSTEM_JOBDISPLAYNAME") or get("AGENT_JOBNAME")
        return (
            "azure",
            f"azure-{get('BUILD_BUILDID') or 'local'}-{job or 'job'}",
            {
                "pipeline": get("BUILD_DEFINITIONNAME"),
                "job": job,
                "url": url,
                "commit": get("BUILD_SOURCEVERSION"),
                "branch": pr_branch or branch,
                "tag": tag,
                "triggeredBy": get("BUILD_REQUESTEDFOR"),
            },
        )
    if get("BITBUCKET_BUILD_NUMBER"):
        workspace, slug = get("BITBUCKET_WORKSPACE"), get("BITBUCKET_REPO_SLUG")
        number = env["BITBUCKET_BUILD_NUMBER"]
        url = f"https://bitbucket.org/{workspace}/{slug}/pipelines/results/{number}" if workspace and slug else None
        step = (get("BITBUCKET_STEP_UUID") or "step").strip("{}")
        return (
            "bitbucket",
            f"bitbucket-{slug or 'repo'}-{number}-{step}",
            {
                "pipeline": get("BITBUCKET_REPO_FULL_NAME") or (f"{workspace}/{slug}" if workspace and slug else None),
                "job": get("BITBUCKET_STEP_UUID"),
                "url": url,
                "commit": get("BITBUCKET_COMMIT"),
                "branch": get("BITBUCKET_BRANCH"),
                "tag": get("BITBUCKET_TAG"),
                "triggeredBy": get("BITBUCKET_STEP_TRIGGERER_UUID"),
            },
        )
    if get("CF_BUILD_ID"):
        return (
            "codefresh",
            f"codefresh-{env['CF_BUILD_ID']}",
            {
                "pipeline": get("CF_PIPELINE_NAME"),
                "job": get("CF_STEP_NAME"),
                "url": get("CF_BUILD_URL"),
                "commit": get("CF_REVISION"),
                "branch": None if get("CF_RELEASE_TAG") else get("CF_BRANCH"),
                "tag": get("CF_RELEASE_TAG"),
                "triggeredBy": get("CF_BUILD_INITIATOR"),
            },
        )
    if get("JENKINS_URL") or (get("BUILD_URL") and get("JOB_NAME")):
        tag = get("TAG_NAME")
        branch = get("CHANGE_BRANCH") or (None if tag else get("BRANCH_NAME"))
        if not branch and not tag and get("GIT_BRANCH"):
            branch = re.sub(r"^(origin/|refs/heads/)", "", env["GIT_BRANCH"])
        return (
            "jenkins",
            f"jenkins-{(get('JOB_NAME') or 'job').replace('/', '-')}-{get('BUILD_NUMBER') or 'local'}",
            {
                "pipeline": get("JOB_NAME"),
                "job": get("JOB_BASE_NAME"),
                "url": get("BUILD_URL"),
                "commit": get("GIT_COMMIT"),
                "branch": branch,
                "tag": tag,
                "triggeredBy": get("BUILD_USER_ID") or get("CHANGE_AUTHOR"),
            },
        )
    raise InputError(
        "ci report runs inside a CI job: no CircleCI, GitHub Actions, GitLab, Buildkite, Azure Pipelines, "
        "Bitbucket Pipelines, Codefresh or Jenkins variables are set (CIRCLECI, GITHUB_ACTIONS, GITLAB_CI, "
        "BUILDKITE, TF_BUILD, BITBUCKET_BUILD_NUMBER, CF_BUILD_ID, JENKINS_URL)"
    )


def ci_entity(  # noqa: PLR0917 - mapping was added after the others
    status: str,
    identifier: Optional[str],
    relations: Tuple[Tuple[str, str], ...],
    properties: Optional[Dict[str, Any]],
    environ: Optional[Dict[str, str]] = None,
    mapping: Tuple[Tuple[str, str], ...] = (),
) -> Dict[str, Any]:
    """The entity describing the current CI job, from the CI's own variables.

    With a mapping (our field -> the blueprint's property), only the mapped fields are sent, under
    the blueprint's names; --properties are added as given.
    """
    env = dict(os.environ if environ is None else environ)
    provider, default_id, props = ci_facts(env)
    props["provider"] = provider
    props["status"] = status
    props["startedAt" if status == "running" else "finishedAt"] = _now_iso()
    facts = _given(**props)
    if mapping:
        facts = {target: facts[ours] for ours, target in mapping if ours in facts}
    facts.update(properties or {})
    entity: Dict[str, Any] = {
        "identifier": identifier or _IDENTIFIER_UNSAFE.sub("-", default_id),
        "title": " / ".join(str(p) for p in (props.get("pipeline"), props.get("job")) if p) or default_id,
        "properties": facts,
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
