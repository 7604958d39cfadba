"""Demo steps for Port: what a CircleCI / GitHub Actions pipeline does with scripts/port.py.

demo(run) runs against the fake Port (src/cirelay/emulators/port.py): catalog entities, a bulk import,
a CI job report under a simulated CircleCI environment, and a self-service action run from
start to finish.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from typing import Any, Dict, Iterator, Optional

CIRCLECI = {
    "CIRCLECI": "true",
    "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/orders/812",
    "CIRCLE_JOB": "deploy",
    "CIRCLE_WORKFLOW_ID": "5b1f2c8e-demo",
    "CIRCLE_SHA1": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "CIRCLE_BRANCH": "main",
    "CIRCLE_USERNAME": "ada",
    "CIRCLE_PROJECT_REPONAME": "orders",
}


def _shared_env(run: Any) -> Optional[Dict[str, str]]:
    """The environment dict the demo runner passes to every step, if it exposes one."""
    cells = dict(zip(run.__code__.co_freevars, run.__closure__ or ()))
    env = cells.get("env")
    value = env.cell_contents if env is not None else None
    return value if isinstance(value, dict) else None


@contextlib.contextmanager
def _ci_variables(run: Any, extra: Dict[str, str]) -> Iterator[Dict[str, Any]]:
    """Run some steps as if inside a CircleCI job (the runner takes no per-step environment)."""
    if "env" in inspect.signature(run).parameters:
        shared = _shared_env(run) or {}
        yield {"env": {**shared, **extra}}
        return
    shared = _shared_env(run)
    if shared is None:
        raise RuntimeError("the demo runner exposes no environment to add CircleCI variables to")
    saved = {k: shared.get(k) for k in extra}
    shared.update(extra)
    try:
        yield {}
    finally:
        for key, value in saved.items():
            if value is None:
                shared.pop(key, None)
            else:
                shared[key] = value


def demo(run: Any) -> None:
    run(
        "token: the first step fetches an access token and caches it for the job",
        "port",
        "run",
        "get",
        "r_QOz6WoOB1Q2lmhZZ",
    )

    run(
        "upsert a microservice (merge)",
        "port",
        "entity", "upsert", "-b", "microservice", "-i", "orders", "--title", "Orders", "--team", "platform",
        "--properties", '{"region": "eu-west-1", "version": "2.3.0"}',
    )  # fmt: skip
    run("read it back", "port", "entity", "get", "-b", "microservice", "-i", "orders", "--include", "properties")
    run(
        "search the EU microservices",
        "port",
        "entity", "search", "-b", "microservice", "--include", "identifier",
        "--query", '{"combinator": "and", "rules": [{"property": "region", "operator": "=", "value": "eu-west-1"}]}',
    )  # fmt: skip

    images = "".join(
        json.dumps({"identifier": f"orders-{n:03d}", "title": f"orders:{n}", "properties": {"imageTag": f"1.{n}"}})
        + "\n"
        for n in range(45)
    )
    run(
        "bulk-upsert 45 images (NDJSON on stdin, 3 requests of <=20, 4 in flight)",
        "port",
        "entity", "bulk-upsert", "-b", "image", "--file", "-",
        input=images,
    )  # fmt: skip
    broken = json.dumps([{"identifier": "good-1"}, {"identifier": "not valid!"}, {"identifier": "good-2"}])
    run(
        "bulk-upsert with one bad identifier: the rest still land, exit 1 lists the failure",
        "port",
        "entity", "bulk-upsert", "-b", "image", "--file", "-",
        input=broken, expect=1,
    )  # fmt: skip

    with _ci_variables(run, CIRCLECI) as extra:
        run(
            "ci report: the CircleCI job starts",
            "port",
            "ci",
            "report",
            "-b",
            "ciJob",
            "--relation",
            "image=orders-044",
            **extra,
        )
        run(
            "ci report: the CircleCI job succeeded (merged into the same entity)",
            "port",
            "ci", "report", "-b", "ciJob", "--status", "success", "--properties", '{"coverage": 87}',
            **extra,
        )  # fmt: skip

    created = run(
        "start a day-2 action run on the microservice",
        "port",
        "run", "create", "--action", "deploy_microservice", "--entity", "orders",
        "--properties", '{"environment": "production"}',
    )  # fmt: skip
    run_id = json.loads(created.stdout)["id"]
    run("read the run", "port", "run", "get", run_id)
    run(
        "upsert bound to the run (--run-id): the change shows in the run's log",
        "port",
        "entity", "upsert", "-b", "microservice", "-i", "orders", "--properties", '{"version": "2.4.0"}',
        "--run-id", run_id,
    )  # fmt: skip
    run("log a line to the run", "port", "run", "log", run_id, "Deployed orders 2.4.0 to production")
    run("read the run's log", "port", "run", "logs", run_id)
    run(
        "finish the run",
        "port",
        "run", "update", run_id, "--status", "SUCCESS", "--status-label", "deployed",
        "--link", "https://circleci.com/gh/acme/orders/812", "--summary", "orders 2.4.0 is live",
    )  # fmt: skip
    run("a finished run cannot change (exit 1)", "port", "run", "update", run_id, "--status", "FAILURE", expect=1)

    run("delete the microservice", "port", "entity", "delete", "-b", "microservice", "-i", "orders")
    run("it is gone (exit 1)", "port", "entity", "get", "-b", "microservice", "-i", "orders", expect=1)
