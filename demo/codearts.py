"""CodeArts Pipeline in the demo: find the pipelines, run them, read logs, stop one, make one."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Dict

FAST = ("--poll-max", "1")  # the fake moves on every poll; no need to wait long between polls

TEMPLATE: Dict[str, Any] = {
    "flow": {"initial": {"state_1": "always"}, "state_1": {"final": "always"}},
    "states": {
        "initial": {"type": "stage", "name": "initial", "display_name": "Initial", "dsl_method": "initial"},
        "state_1": {"type": "stage", "name": "state_1", "display_name": "Build", "dsl_method": "build"},
        "final": {"type": "stage", "name": "final", "display_name": "Final", "dsl_method": "final"},
    },
    "workflow": {"name": "made-from-template", "description": "", "parameter": [], "source": []},
}


def demo(run: Any) -> None:
    listed = run("List the project's pipelines (every page)", "codearts", "pipeline", "list")
    ids = {p["name"]: p["pipeline_id"] for p in json.loads(listed.stdout)}

    build = ids["build-and-deploy"]
    started = run(
        "Build main and wait for the run: stage progress on stderr, exit 0",
        "codearts", "run", "start", "--pipeline-id", build, "--branch", "main",
        "--var", "ENV=staging", "--description", "cirelay demo", "--wait", *FAST,
    )  # fmt: skip
    run_id = json.loads(started.stdout)["id"]
    run("Read every step's log of that run", "codearts", "run", "logs", "--pipeline-id", build, "--run-id", run_id)
    run("The pipeline's recent successful runs", "codearts", "run", "list", "--pipeline-id", build,
        "--status", "COMPLETED", "--limit", "3")  # fmt: skip

    run(
        "A run that fails: the final run is printed and the exit code is 1",
        "codearts", "run", "start", "--pipeline-id", ids["nightly-tests"], "--wait", *FAST, expect=1,
    )  # fmt: skip

    release = ids["release-with-approval"]
    queued = run("Start a release without waiting", "codearts", "run", "start", "--pipeline-id", release)
    release_run = json.loads(queued.stdout)["pipeline_run_id"]
    run(
        "Wait for it in a later step: PAUSED shows as waiting for someone",
        "codearts", "run", "wait", "--pipeline-id", release, "--run-id", release_run, *FAST,
    )  # fmt: skip

    second = run("Start another release", "codearts", "run", "start", "--pipeline-id", release)
    second_run = json.loads(second.stdout)["pipeline_run_id"]
    run("…and stop it", "codearts", "run", "stop", "--pipeline-id", release, "--run-id", second_run)
    run("Its status now", "codearts", "run", "get", "--pipeline-id", release, "--run-id", second_run)

    with tempfile.TemporaryDirectory() as folder:
        body = Path(folder) / "template.json"
        body.write_text(json.dumps(TEMPLATE, indent=2), encoding="utf-8")
        run(
            "Create a pipeline from a template body and wait until it exists",
            "codearts", "template", "create", "--file", str(body), "--wait", *FAST,
        )  # fmt: skip
