"""The octoplant part of the demo: order exports, keep the ZIPs, look at, re-download and cancel orders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any


def demo(run: Any) -> None:
    folder = tempfile.mkdtemp(prefix="cirelay-demo-octoplant-")
    try:
        target = os.path.join(folder, "artifacts", "plant-export.zip")
        done = run(
            "Order a project tree and job list export, wait for it, keep the checked ZIP",
            "octoplant",
            "export",
            "--contents",
            "projectTree",
            "--contents",
            "jobList",
            "-o",
            target,
            "--poll-max",
            "1",
        )
        name = json.loads(done.stdout)["name"]
        run("Look at the finished order", "octoplant", "order", "status", name)
        run(
            "Download the same export again, e.g. in a later job",
            "octoplant",
            "order",
            "download",
            name,
            "-o",
            os.path.join(folder, "artifacts", "again.zip"),
        )
        run(
            "Export with options for one kind (the whole exportContents as JSON)",
            "octoplant",
            "export",
            "--contents-json",
            json.dumps(
                {"projectTree": {"exportType": "EXPORT_TYPE_JSON", "versionInformation": "VERSION_INFORMATION_ALL"}}
            ),
            "-o",
            os.path.join(folder, "artifacts", "tree.zip"),
            "--poll-max",
            "1",
        )
        started = run(
            "Order an export but stop waiting at once, leaving it running (exit 3)",
            "octoplant",
            "export",
            "-o",
            os.path.join(folder, "artifacts", "never.zip"),
            "--timeout",
            "0",
            "--no-cancel-on-timeout",
            expect=3,
        )
        run("Cancel that order", "octoplant", "order", "cancel", json.loads(started.stdout)["name"])
        run(
            "A misspelt export kind is a usage error listing the known ones (exit 2)",
            "octoplant",
            "export",
            "--contents",
            "projectTre",
            "-o",
            os.path.join(folder, "x.zip"),
            expect=2,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
