"""Zadig in a pipeline: custom workflows run as configured, approvals, resumes, logs, task lists; the legacy API."""

from __future__ import annotations

import json
from typing import Any

from cirelay.emulators.zadig import SEED_COMMIT

FAST = ("--poll-max", "1")  # the fake moves one step per poll; no need for 15 s pauses


def demo(run: Any) -> None:
    run(
        "Zadig: run a custom workflow as configured (every job's input built from the workflow), wait for it",
        "zadig", "custom", "run", "-p", "demo", "-w", "build-and-deploy", "--param", "TAG=1.4.2", "--wait", *FAST,
    )  # fmt: skip
    started = run(
        "Zadig: build, approve, deploy: no --inputs needed (registry, services, env and images come from the workflow)",
        "zadig", "custom", "run", "-p", "demo", "-w", "deploy-dev", "--param", "TAG=1.4.2",
    )  # fmt: skip
    task_id = str(json.loads(started.stdout)["task_id"])
    run(
        "Zadig: a later step waits; the task stops at its approval job (exit 3 at the timeout; it names the approvers)",
        "zadig", "custom", "wait", "-w", "deploy-dev", "--id", task_id, "--timeout", "3", *FAST,
        expect=3,
    )  # fmt: skip
    run(
        "Zadig: approve the job the task waits on",
        "zadig", "custom", "approve", "-w", "deploy-dev", "--id", task_id, "--comment", "release 1.4.2",
    )  # fmt: skip
    run("Zadig: wait for the rest", "zadig", "custom", "wait", "-w", "deploy-dev", "--id", task_id, *FAST)
    run("Zadig: the jobs' logs, in order", "zadig", "custom", "logs", "-w", "deploy-dev", "--id", task_id)
    run(
        "Zadig: the workflow's latest tasks",
        "zadig",
        "custom",
        "list",
        "-p",
        "demo",
        "-w",
        "deploy-dev",
        "--limit",
        "5",
    )

    release = run(
        "Zadig: only some jobs (--job); its go-live stage waits for manual execution",
        "zadig", "custom", "run", "-p", "demo", "-w", "release", "--job", "build-api", "--job", "switch-traffic",
        "--wait", "--timeout", "3", *FAST,
        expect=3,
    )  # fmt: skip
    release_id = str(json.loads(release.stdout)["task_id"])
    run("Zadig: run the paused stage", "zadig", "custom", "resume", "-w", "release", "--id", release_id)
    run("Zadig: and wait for it", "zadig", "custom", "wait", "-w", "release", "--id", release_id, *FAST)

    nightly = run(
        "Zadig: the nightly end-to-end workflow fails (exit 1)",
        "zadig", "custom", "run", "-p", "demo", "-w", "nightly-e2e", "--wait", *FAST,
        expect=1,
    )  # fmt: skip
    nightly_id = str(json.loads(nightly.stdout)["task_id"])
    run(
        "Zadig: retry the failed task and wait",
        "zadig", "custom", "retry", "-p", "demo", "-w", "nightly-e2e", "--id", nightly_id, "--wait", *FAST,
    )  # fmt: skip
    slow = run(
        "Zadig: a task that outlives --timeout is cancelled (exit 3)",
        "zadig", "custom", "run", "-p", "demo", "-w", "wf-forever",
        "--wait", "--timeout", "1", "--cancel-on-timeout", *FAST,
        expect=3,
    )  # fmt: skip
    slow_id = str(json.loads(slow.stdout)["task_id"])
    run("Zadig: the cancelled task", "zadig", "custom", "get", "-w", "wf-forever", "--id", slow_id)

    run(
        "Zadig (legacy API, Zadig <= v3.4.0): which tasks ran for this commit",
        "zadig", "task", "list", "--commit-id", SEED_COMMIT[:8],
    )  # fmt: skip
    done = run(
        "Zadig (legacy API): deploy an image, build a service from two repos, wait for the task",
        "zadig", "task", "create", "-w", "demo-workflow-dev", "-e", "dev",
        "--image", "api=registry.example.com/shop/api:1.4.2",
        "--build", "web:web@main", "--build", "web:web-assets@main",
        "--wait", *FAST,
    )  # fmt: skip
    run(
        "Zadig (legacy API): the task, as a later job sees it",
        "zadig", "task", "get", "-w", "demo-workflow-dev", "--id", str(json.loads(done.stdout)["task_id"]),
    )  # fmt: skip
    run(
        "Zadig (legacy API): restart failed task 12 of the flaky workflow and wait again",
        "zadig", "task", "restart", "-w", "demo-workflow-flaky", "--id", "12", "--wait", *FAST,
    )  # fmt: skip
