"""Zadig in a pipeline: start workflow tasks in both API generations, follow them, recover a failure."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.zadig import SEED_COMMIT

FAST = ("--poll-max", "1")  # the fake moves one status per poll; no need for 15 s pauses


def demo(run: Any) -> None:
    run("Zadig: which tasks ran for this commit", "zadig", "task", "list", "--commit-id", SEED_COMMIT[:8])

    done = run(
        "Zadig (legacy API): deploy an image, build a service from two repos, wait for the task",
        "zadig", "task", "create", "-w", "demo-workflow-dev", "-e", "dev",
        "--image", "api=registry.example.com/shop/api:1.4.2",
        "--build", "web:web@main", "--build", "web:web-assets@main",
        "--wait", *FAST,
    )  # fmt: skip
    task_id = str(json.loads(done.stdout)["task_id"])
    run(
        "Zadig (legacy API): the task, as a later job sees it",
        "zadig",
        "task",
        "get",
        "-w",
        "demo-workflow-dev",
        "--id",
        task_id,
    )

    failed = run(
        "Zadig (legacy API): a flaky workflow fails, so the step fails (exit 1)",
        "zadig", "task", "create", "-w", "demo-workflow-flaky", "-e", "dev",
        "--image", "api=registry.example.com/shop/api:1.4.2", "--wait", *FAST,
        expect=1,
    )  # fmt: skip
    assert json.loads(failed.stdout)["status"] == "failed"
    run(
        "Zadig (legacy API): restart task 12 of the flaky workflow and wait again",
        "zadig", "task", "restart", "-w", "demo-workflow-flaky", "--id", "12", "--wait", *FAST,
    )  # fmt: skip
    run("Zadig (legacy API): read the task back", "zadig", "task", "get", "-w", "demo-workflow-flaky", "--id", "12")

    run(
        "Zadig v4 (custom workflow): run with a parameter; progress shows stages and jobs",
        "zadig", "custom", "run", "-p", "demo", "-w", "build-and-deploy", "--param", "TAG=1.4.2", "--wait", *FAST,
    )  # fmt: skip
    nightly = run(
        "Zadig v4: the nightly end-to-end workflow fails (exit 1)",
        "zadig", "custom", "run", "-p", "demo", "-w", "nightly-e2e", "--wait", *FAST,
        expect=1,
    )  # fmt: skip
    nightly_id = str(json.loads(nightly.stdout)["task_id"])
    run(
        "Zadig v4: retry the failed task and wait",
        "zadig", "custom", "retry", "-p", "demo", "-w", "nightly-e2e", "--id", nightly_id, "--wait", *FAST,
    )  # fmt: skip

    slow = run(
        "Zadig v4: a task that outlives --timeout is cancelled (exit 3)",
        "zadig", "custom", "run", "-p", "demo", "-w", "wf-forever",
        "--wait", "--timeout", "1", "--cancel-on-timeout", *FAST,
        expect=3,
    )  # fmt: skip
    slow_id = str(json.loads(slow.stdout)["task_id"])
    run("Zadig v4: the cancelled task", "zadig", "custom", "get", "-w", "wf-forever", "--id", slow_id)
