"""What `custom run` sends: every job's input built from the workflow's own configuration, as Zadig's run dialog does.

Zadig runs only the jobs named in `inputs` and skips the rest; with nothing left it refuses the task
(400, code 6160). So the inputs come from the workflow's detail (stages → jobs with name, type, spec),
one per job, each in the shape its type takes (aslan core/workflow/service/workflow/types.go).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from cirelay.errors import InputError

# The job types whose empty input keeps what the workflow configured (types.go: plugin and freestyle
# change only the keys given, approval ignores its input, the releases and AI jobs take none).
KEEP_CONFIGURED = (
    "plugin",
    "freestyle",
    "approval",
    "k8s-blue-green-release",
    "k8s-canary-release",
    "ai-release-specialist",
    "ai-task",
)
# The input each type takes, for the message that asks for it (types.go *JobInput).
INPUT_SHAPES = {
    "zadig-build": {
        "registry": "<address>/<namespace>",
        "service_list": [{"service_name": "…", "service_module": "…", "repo_info": [], "inputs": []}],
    },
    "zadig-deploy": {
        "env_name": "…",
        "service_list": [{"service_name": "…", "service_module": "…", "image_name": "…"}],
    },
    "zadig-vm-deploy": {"env_name": "…", "service_list": [{"service_name": "…", "file_name": "…"}]},
    "custom-deploy": {
        "target_list": [{"workload_type": "…", "workload_name": "…", "container_name": "…", "image_name": "…"}]
    },
    "k8s-blue-green-deploy": {"service_list": [{"service_name": "…", "image_name": "…"}]},
    "k8s-canary-deploy": {"service_list": [{"service_name": "…", "image_name": "…"}]},
    "k8s-gray-release": {
        "target_list": [{"workload_type": "…", "workload_name": "…", "container_name": "…", "image_name": "…"}]
    },
    "k8s-gray-rollback": {"target_list": [{"workload_type": "…", "workload_name": "…"}]},
    "k8s-resource-patch": {"target_list": [{"resource_name": "…", "resource_kind": "…", "inputs": []}]},
    "zadig-test": {"service_list": [], "testing_list": [{"testing_name": "…", "repo_info": [], "inputs": []}]},
    "zadig-scanning": {"service_list": [], "scanning_list": [{"scanning_name": "…", "repo_info": [], "inputs": []}]},
    "sql": {"database_name": "…", "sql": "…"},
    "tapd": {"project_id": "…", "status": "…", "iteration_ids": []},
}
# Every type Zadig's OpenAPI takes input for (openapi.go GetInputUpdater); any other is refused (HTTP 500).
OPENAPI_TYPES = frozenset(KEEP_CONFIGURED) | frozenset(INPUT_SHAPES)


def workflow_jobs(detail: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The jobs of a workflow detail, stage by stage, each with its stage's name added."""
    jobs = []
    for stage in detail.get("stages") or []:
        if not isinstance(stage, dict):
            continue
        for job in stage.get("jobs") or []:
            if isinstance(job, dict) and job.get("name"):
                jobs.append(dict(job, stage=stage.get("name")))
    return jobs


def _needs(job: Dict[str, Any], why: str) -> InputError:
    kind = str(job.get("type") or "")
    shape = INPUT_SHAPES.get(kind, {})
    entry = json.dumps({"job_name": job["name"], "job_type": kind, "parameters": shape}, ensure_ascii=False)
    return InputError(
        f"job {job['name']} ({kind}) cannot run as configured: {why}; give its input with --inputs '[{entry}]'"
        " (or leave it out with --job for the other jobs)",
        param_hint="'--inputs'",
    )


def derive_input(job: Dict[str, Any], registries: Callable[[], List[Dict[str, Any]]]) -> Dict[str, Any]:
    """The input that runs one job as its workflow configures it; InputError (exit 2) when its type has none."""
    kind = str(job.get("type") or "")
    spec = job.get("spec") if isinstance(job.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    if kind in KEEP_CONFIGURED:
        parameters: Dict[str, Any] = {}
    elif kind == "zadig-build":
        parameters = _build_input(job, spec, registries)
    elif kind == "zadig-deploy":
        parameters = _deploy_input(job, spec)
    elif kind in OPENAPI_TYPES:
        raise _needs(job, "cirelay cannot build this type's input from the workflow")
    else:
        raise InputError(
            f"job {job['name']} is of type {kind or '?'}, which Zadig's OpenAPI cannot run (it takes input only for"
            f" {', '.join(sorted(OPENAPI_TYPES))}): choose the other jobs with --job",
            param_hint="'--job'",
        )
    return {"job_name": job["name"], "job_type": kind, "parameters": parameters}


def _build_input(
    job: Dict[str, Any], spec: Dict[str, Any], registries: Callable[[], List[Dict[str, Any]]]
) -> Dict[str, Any]:
    """zadig-build: {registry: "<address>/<namespace>", service_list} (types.go ZadigBuildJobInput).

    repo_info stays empty: each repository keeps the branch the workflow configures (its codehost is
    named by alias, which the detail does not carry); --inputs changes a branch.
    """
    registry_id = spec.get("docker_registry_id")
    if not registry_id:
        raise _needs(job, "it names no image registry (spec.docker_registry_id)")
    found = next((r for r in registries() if r.get("registry_id") == registry_id), None)
    if found is None:
        raise _needs(job, f"its image registry {registry_id} is not in GET /openapi/system/registry")
    # The services the run dialog preselects: default_service_and_builds since v3.2.0 (koderover/zadig
    # bad312905; the stored service_and_builds is then empty), service_and_builds before.
    defaults = spec.get("default_service_and_builds") or spec.get("service_and_builds") or []
    services: List[Dict[str, Any]] = [
        {
            "service_name": build.get("service_name"),
            "service_module": build.get("service_module"),
            "repo_info": [],
            "inputs": [],
        }
        for build in defaults
        if isinstance(build, dict)
    ]
    if not services:
        raise _needs(job, "it builds no service by default (spec.default_service_and_builds is empty)")
    return {"registry": f"{found.get('address')}/{found.get('namespace')}", "service_list": services}


def _deploy_input(job: Dict[str, Any], spec: Dict[str, Any]) -> Dict[str, Any]:
    """zadig-deploy: {env_name, service_list: [{service_name, service_module, image_name}]} (types.go).

    The services are spec.services (their modules and images), else spec.service_and_images (the
    defaults saved since v2.3.0). A deploy whose source is `fromjob` takes its images from the build
    job it names (job_deploy.go ToTask), so its services need no image of their own.
    """
    env = spec.get("env")
    if not env or "{{" in str(env):
        raise _needs(job, "its environment is chosen at run time (spec.env is empty or a variable)")
    from_job = spec.get("source") == "fromjob"
    modules = [
        (service.get("service_name"), module.get("service_module"), module.get("image"))
        for service in spec.get("services") or []
        if isinstance(service, dict)
        for module in service.get("modules") or []
        if isinstance(module, dict)
    ] or [
        (item.get("service_name"), item.get("service_module"), item.get("image"))
        for item in spec.get("service_and_images") or []
        if isinstance(item, dict)
    ]
    services = []
    for name, module, image in modules:
        if not image and not from_job:
            raise _needs(job, f"service {name} has no image configured")
        services.append({"service_name": name, "service_module": module, "image_name": image or ""})
    if not services:
        raise _needs(job, "it deploys no service by default (spec.services is empty)")
    return {"env_name": env, "service_list": services}


def job_inputs(
    detail: Dict[str, Any],
    *,
    only: Sequence[str],
    overrides: Optional[List[Any]],
    registries: Callable[[], List[Dict[str, Any]]],
) -> List[Dict[str, Any]]:
    """The `inputs` of a start: the jobs chosen (--job, else every job) plus those in --inputs, each derived
    from the workflow and overridden by its --inputs entry (parameters merged key by key)."""
    jobs = workflow_jobs(detail)
    by_name = {job["name"]: job for job in jobs}
    given: Dict[str, Dict[str, Any]] = {}
    for number, entry in enumerate(overrides or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("job_name"), str):
            raise InputError(f"--inputs entry {number} is not an object with a job_name", param_hint="'--inputs'")
        if entry["job_name"] not in by_name:
            raise InputError(
                f"--inputs names job {entry['job_name']!r}, which workflow {detail.get('workflow_key')} does not"
                f" have (its jobs: {', '.join(by_name) or 'none'})",
                param_hint="'--inputs'",
            )
        given[entry["job_name"]] = entry
    for name in only:
        if name not in by_name:
            raise InputError(
                f"workflow {detail.get('workflow_key')} has no job {name!r} (its jobs: {', '.join(by_name) or 'none'})",
                param_hint="'--job'",
            )
    chosen = [job for job in jobs if (job["name"] in only if only else True) or job["name"] in given]
    inputs = []
    for job in chosen:
        entry = given.get(job["name"])
        parameters = entry.get("parameters") if entry is not None else None
        if isinstance(parameters, dict) or entry is None:
            try:
                derived = derive_input(job, registries)["parameters"]
            except InputError:
                if entry is None:
                    raise
                derived = {}
            parameters = {**derived, **(parameters or {})}
        inputs.append({"job_name": job["name"], "job_type": job.get("type"), "parameters": parameters})
    return inputs


def resolve_params(detail: Dict[str, Any], given: Sequence[Tuple[str, str]]) -> List[Dict[str, str]]:
    """--param NAME=VALUE as {name, value, type}; a name the workflow does not define is exit 2 (Zadig: HTTP 500)."""
    defined = {p.get("name"): p for p in detail.get("params") or [] if isinstance(p, dict)}
    params = []
    for name, value in given:
        found = defined.get(name)
        if found is None:
            known = ", ".join(str(n) for n in defined) or "none"
            raise InputError(
                f"workflow {detail.get('workflow_key')} has no parameter {name!r} (its parameters: {known})",
                param_hint="'--param'",
            )
        choices = found.get("choice_option")
        if found.get("type") == "choice" and isinstance(choices, list) and value not in choices:
            raise InputError(
                f"parameter {name} takes one of {', '.join(map(str, choices))}, got {value!r}", param_hint="'--param'"
            )
        param = {"name": name, "value": value}
        if found.get("type"):
            param["type"] = str(found["type"])
        params.append(param)
    return params
