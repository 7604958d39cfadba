"""`python scripts/port.py …` as a CI step runs it, against the fake Port over real sockets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from cirelay.emulators import port as fakeport
from tests.conftest import run_script


@pytest.fixture
def fake() -> Iterator[fakeport.PortFake]:
    server = fakeport.make_server()
    server.start()
    try:
        yield server
    finally:
        server.stop()
    # Every request the script made fits Port's published contract (src/cirelay/emulators/contracts/port-openapi.json),
    # and so does every reply the fake made.
    assert server.violations == []


@pytest.fixture
def env(fake: fakeport.PortFake, tmp_path: Path) -> Dict[str, str]:
    return {**fakeport.env_for(fake.url), "RUNNER_TEMP": str(tmp_path)}


class Step:
    """Runs the script and checks that neither the secret nor any token shows in what it printed."""

    def __init__(self, fake: fakeport.PortFake, env: Dict[str, str]) -> None:
        self.fake = fake
        self.env = env

    def __call__(
        self, *args: str, extra: Optional[Dict[str, str]] = None, input: Optional[str] = None
    ) -> subprocess.CompletedProcess:
        done = run_script("port", *args, env={**self.env, **(extra or {})}, input=input)
        printed = done.stdout + done.stderr
        assert fakeport.CLIENT_SECRET not in printed
        for token in self.fake.issued:
            assert token not in printed
        return done


@pytest.fixture
def port(fake: fakeport.PortFake, env: Dict[str, str]) -> Step:
    return Step(fake, env)


def tokens_asked(fake: fakeport.PortFake) -> int:
    return len(fake.seen("POST", "/v1/auth/access_token"))


def test_entity_lifecycle(port: Step, fake: fakeport.PortFake) -> None:
    done = port(
        "entity",
        "upsert",
        "-b",
        "microservice",
        "-i",
        "orders",
        "--title",
        "Orders",
        "--properties",
        '{"region": "eu-west-1"}',
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["properties"] == {"region": "eu-west-1"}
    done = port("entity", "upsert", "-b", "microservice", "-i", "orders", "--properties", '{"version": "3.1"}')
    assert json.loads(done.stdout)["properties"] == {"region": "eu-west-1", "version": "3.1"}  # merged

    done = port("entity", "get", "-b", "microservice", "-i", "orders", "--include", "properties.version")
    assert json.loads(done.stdout) == {"properties": {"version": "3.1"}}

    query = '{"combinator": "and", "rules": [{"property": "region", "operator": "=", "value": "eu-west-1"}]}'
    done = port("entity", "search", "-b", "microservice", "--query", query, "--include", "identifier")
    assert json.loads(done.stdout) == [{"identifier": "checkout"}, {"identifier": "orders"}, {"identifier": "payments"}]
    done = port("entity", "search", "--query", '{"combinator": "and", "rules": []}', "--limit", "2")
    assert len(json.loads(done.stdout)) == 2

    done = port("entity", "delete", "-b", "microservice", "-i", "orders")
    assert done.returncode == 0, done.stderr
    assert "orders" not in fake.entities["microservice"]

    done = port("entity", "get", "-b", "microservice", "-i", "orders")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("Error: entity orders not found in blueprint microservice: ")
    assert tokens_asked(fake) == 1  # one token for the whole job, shared through the cache


def test_blueprint_search_follows_next_over_many_pages(port: Step, fake: fakeport.PortFake) -> None:
    for n in range(450):
        fake.entities["image"][f"img-{n:03d}"] = {"identifier": f"img-{n:03d}", "properties": {}, "blueprint": "image"}
    done = port(
        "entity", "search", "-b", "image", "--query", '{"combinator": "and", "rules": []}', "--include", "identifier"
    )
    assert done.returncode == 0, done.stderr
    assert [e["identifier"] for e in json.loads(done.stdout)] == [f"img-{n:03d}" for n in range(450)]
    assert len(fake.seen("POST", "/v1/blueprints/image/entities/search")) == 3


def test_base_url_with_v1_and_identifier_needing_encoding(port: Step, fake: fakeport.PortFake) -> None:
    extra = {"PORT_BASE_URL": f"{fake.url}/v1/"}
    done = port("entity", "upsert", "-b", "microservice", "-i", "team/svc", extra=extra)
    assert done.returncode == 0, done.stderr
    done = port("entity", "get", "-b", "microservice", "-i", "team/svc", extra=extra)
    assert json.loads(done.stdout)["identifier"] == "team/svc"


def test_retry_through_429_and_503(port: Step, fake: fakeport.PortFake) -> None:
    where = r"^POST /v1/blueprints/microservice/entities$"
    fake.fail_next(1, 503, {"ok": False, "error": "unavailable", "message": "try later"}, match=where)
    fake.fail_next(
        1, 429, {"ok": False, "error": "rate_limited", "message": "slow down"}, {"Retry-After": "1"}, match=where
    )
    done = port("entity", "upsert", "-b", "microservice", "-i", "retried", "--properties", '{"version": "1"}')
    assert done.returncode == 0, done.stderr
    assert len(fake.seen("POST", "/v1/blueprints/microservice/entities")) == 3
    assert fake.entities["microservice"]["retried"]["properties"] == {"version": "1"}


def test_run_create_is_not_retried_after_503(port: Step, fake: fakeport.PortFake) -> None:
    fake.fail_next(1, 503, {"ok": False, "error": "unavailable", "message": "try later"}, match=r"^POST /v1/actions/")
    before = len(fake.runs)
    done = port("run", "create", "--action", "create_microservice", "--properties", '{"name": "x"}')
    assert done.returncode == 1
    assert done.stderr.startswith("Error: try later (503, POST ")
    assert len(fake.seen("POST", "/v1/actions/create_microservice/runs")) == 1
    assert len(fake.runs) == before


def test_run_create_is_not_resent_after_a_dropped_connection(port: Step, fake: fakeport.PortFake) -> None:
    fake.drop_next(1, match=r"^POST /v1/actions/")
    done = port("run", "create", "--action", "create_microservice")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: could not complete POST ")
    assert len(fake.seen("POST", "/v1/actions/create_microservice/runs")) == 1


def test_token_cache_shared_by_two_processes(port: Step, fake: fakeport.PortFake, tmp_path: Path) -> None:
    assert port("run", "get", fakeport.SEEDED_RUN).returncode == 0
    assert port("entity", "get", "-b", "microservice", "-i", "payments").returncode == 0
    assert tokens_asked(fake) == 1
    (cached,) = tmp_path.glob("cirelay-port-token-*.json")
    assert cached.stat().st_mode & 0o777 == 0o600


def test_no_token_cache_asks_every_time(port: Step, fake: fakeport.PortFake, tmp_path: Path) -> None:
    assert port("run", "get", fakeport.SEEDED_RUN, "--no-token-cache").returncode == 0
    assert port("run", "get", fakeport.SEEDED_RUN, extra={"PORT_TOKEN_CACHE": "0"}).returncode == 0
    assert tokens_asked(fake) == 2
    assert list(tmp_path.glob("cirelay-port-token-*")) == []


def test_token_refreshed_after_401(port: Step, fake: fakeport.PortFake) -> None:
    assert port("entity", "get", "-b", "microservice", "-i", "payments").returncode == 0
    fake.expire_tokens()  # the cached token is now refused
    done = port("entity", "get", "-b", "microservice", "-i", "payments")
    assert done.returncode == 0, done.stderr
    assert "Port refused the access token (401); fetching a new one" in done.stderr
    assert tokens_asked(fake) == 2
    assert len(fake.seen("GET", "/v1/blueprints/microservice/entities/payments")) == 3


def test_wrong_secret_is_named_not_printed(port: Step, fake: fakeport.PortFake, tmp_path: Path) -> None:
    out = tmp_path / "gh-output"
    wrong = "not-the-secret-9876"
    done = port(
        "entity",
        "get",
        "-b",
        "microservice",
        "-i",
        "payments",
        extra={"PORT_CLIENT_SECRET": wrong, "GITHUB_OUTPUT": str(out)},
    )
    assert done.returncode == 1
    (trace,) = [t[3] for t in fake.traces if t[1] == "/v1/auth/access_token"]
    assert done.stderr == (  # Port's X-Trace-Id named, as Port support asks for it (issue 9 point 11)
        "Error: Port rejected PORT_CLIENT_ID/PORT_CLIENT_SECRET: Invalid client credentials "
        f"(401, POST {fake.url}/v1/auth/access_token; X-Trace-Id {trace})\n"
    )
    assert wrong not in done.stdout + done.stderr
    assert not out.exists()


def test_no_secret_in_any_output_of_a_github_step(port: Step, fake: fakeport.PortFake, tmp_path: Path) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary"
    gh = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    assert port("entity", "upsert", "-b", "microservice", "-i", "gh", extra=gh).returncode == 0
    assert port("run", "get", fakeport.SEEDED_RUN, extra=gh).returncode == 0
    assert port("entity", "get", "-b", "microservice", "-i", "missing", extra=gh).returncode == 1
    written = out.read_text() + summary.read_text()
    assert "run-id<<" in written and "identifier<<" in written
    assert fakeport.CLIENT_SECRET not in written
    for token in fake.issued:
        assert token not in written
        assert token not in "".join(p.read_text() for p in tmp_path.glob("*") if p.suffix != ".json")


def test_token_masked_when_github_actions(port: Step, fake: fakeport.PortFake) -> None:
    done = run_script("port", "run", "get", fakeport.SEEDED_RUN, env={**port.env, "GITHUB_ACTIONS": "true"})
    assert done.returncode == 0, done.stderr
    (token,) = fake.issued
    assert f"::add-mask::{token}\n" in done.stderr
    assert token not in done.stdout


def write_ndjson(path: Path, ids: List[str]) -> Path:
    path.write_text("".join(json.dumps({"identifier": i, "properties": {"region": "eu"}}) + "\n" for i in ids))
    return path


def test_bulk_with_partial_failures_and_faults_loses_no_entity(
    port: Step, fake: fakeport.PortFake, tmp_path: Path
) -> None:
    ids = [f"svc-{n:03d}" for n in range(95)]
    ids[7] = "bad id 7"  # Port refuses identifiers with spaces
    ids[60] = "bad id 60"
    fake.reject_identifiers = {"svc-033", "svc-094"}
    bulk = r"^POST /v1/blueprints/microservice/entities/bulk$"
    fake.fail_next(2, 503, {"ok": False, "error": "unavailable", "message": "busy"}, match=bulk)
    fake.drop_next(1, match=bulk)
    done = port("entity", "bulk-upsert", "-b", "microservice", "--file", str(write_ndjson(tmp_path / "e.ndjson", ids)))
    assert done.returncode == 1
    result = json.loads(done.stdout)
    failed = {f["index"]: f for f in result["failed"]}
    assert sorted(failed) == [7, 33, 60, 94]
    assert failed[7]["identifier"] == "bad id 7" and failed[7]["error"] == "invalid_request"
    assert failed[33]["message"] == 'Entity "svc-033" does not match the blueprint schema'
    assert result["upserted"] == [i for n, i in enumerate(ids) if n not in failed]
    assert set(result["upserted"]) <= set(fake.entities["microservice"])
    assert not set(fake.entities["microservice"]) & {"bad id 7", "bad id 60", "svc-033", "svc-094"}
    assert done.stderr.endswith(
        "Error: 4 of 95 entities were not upserted (first: item 8, bad id 7: " + failed[7]["message"] + ")\n"
    )


def test_bulk_413_from_port_splits_batches(port: Step, fake: fakeport.PortFake, tmp_path: Path) -> None:
    fake.max_body = 400  # about seven small entities per request
    ids = [f"split-{n:02d}" for n in range(40)]
    done = port(
        "entity",
        "bulk-upsert",
        "-b",
        "microservice",
        "--file",
        str(write_ndjson(tmp_path / "e.ndjson", ids)),
        "--concurrency",
        "2",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"upserted": ids, "failed": [], "not_attempted": []}
    bulk = fake.seen("POST", "/v1/blueprints/microservice/entities/bulk")
    assert all(len(json.loads(r.body)["entities"]) <= 20 for r in bulk)
    accepted = [r for r in bulk if len(r.body) <= 400]
    assert sum(len(json.loads(r.body)["entities"]) for r in accepted) == 40  # the 413s were split, none lost
    assert len(bulk) > len(accepted) >= 6


def test_bulk_json_array_from_stdin_bound_to_a_run(port: Step, fake: fakeport.PortFake) -> None:
    items = json.dumps([{"identifier": f"r-{n}"} for n in range(3)])
    done = port(
        "entity", "bulk-upsert", "-b", "image", "--file", "-", extra={"PORT_RUN_ID": fakeport.SEEDED_RUN}, input=items
    )
    assert done.returncode == 0, done.stderr
    messages = [entry["message"] for entry in fake.run_logs[fakeport.SEEDED_RUN]]
    assert messages == [f"Entity r-{n} of image upserted" for n in range(3)]


def test_action_run_lifecycle(port: Step, fake: fakeport.PortFake, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = port(
        "run",
        "create",
        "--action",
        "deploy_microservice",
        "--entity",
        "payments",
        "--properties",
        '{"environment": "prod"}',
        extra={"GITHUB_OUTPUT": str(out)},
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["id"]
    assert "run-id<<" in out.read_text() and run_id in out.read_text()
    with_run = {"PORT_RUN_ID": run_id}

    assert (
        port(
            "entity",
            "upsert",
            "-b",
            "microservice",
            "-i",
            "payments",
            "--properties",
            '{"version": "1.5.0"}',
            extra=with_run,
        ).returncode
        == 0
    )
    assert port("run", "log", "deploying to prod", extra=with_run).returncode == 0
    for n in range(55):
        fake._log_to_run(run_id, f"line {n}")
    done = port("run", "logs", extra=with_run)
    logs = json.loads(done.stdout)
    assert [entry["message"] for entry in logs[:2]] == ["Entity payments of microservice upserted", "deploying to prod"]
    assert len(logs) == 57
    assert len(fake.seen("GET", f"/v1/actions/runs/{run_id}/logs")) == 2

    done = port(
        "run",
        "update",
        "--status",
        "SUCCESS",
        "--link",
        "https://ci.example/812",
        "--summary",
        "deployed",
        extra=with_run,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "SUCCESS"
    assert port("run", "get", extra=with_run).returncode == 0

    done = port("run", "update", run_id, "--status", "FAILURE")
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: action run {run_id} has already finished and cannot be changed: ")
    done = port("run", "log", run_id, "too late", "--termination-status", "FAILURE")
    assert done.returncode == 1
    assert "has already finished" in done.stderr


def test_run_log_termination_status_finishes_the_run(port: Step, fake: fakeport.PortFake) -> None:
    done = port(
        "run", "log", fakeport.SEEDED_RUN, "all done", "--termination-status", "SUCCESS", "--status-label", "ok"
    )
    assert done.returncode == 0, done.stderr
    assert fake.runs[fakeport.SEEDED_RUN]["status"] == "SUCCESS"


def test_ci_report_from_circleci_environment(port: Step, fake: fakeport.PortFake) -> None:
    circle = {
        "CIRCLECI": "true",
        "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/shop/812",
        "CIRCLE_JOB": "deploy",
        "CIRCLE_WORKFLOW_ID": "wf-1",
        "CIRCLE_SHA1": "abc123",
        "CIRCLE_BRANCH": "main",
        "CIRCLE_USERNAME": "ada",
        "CIRCLE_PROJECT_REPONAME": "shop",
    }
    assert port("ci", "report", "-b", "ciJob", extra=circle).returncode == 0
    done = port("ci", "report", "-b", "ciJob", "--status", "success", "--properties", '{"coverage": 91}', extra=circle)
    assert done.returncode == 0, done.stderr
    stored = fake.entities["ciJob"]["circleci-wf-1-deploy"]
    assert stored["properties"]["status"] == "success"
    assert {"startedAt", "finishedAt"} <= set(stored["properties"])  # merged across the two reports
    assert stored["properties"]["url"] == "https://circleci.com/gh/acme/shop/812"
    assert stored["properties"]["coverage"] == 91


def test_ci_report_outside_ci(port: Step) -> None:
    done = port("ci", "report", "-b", "ciJob")
    assert done.returncode == 2
    assert "no CircleCI, GitHub Actions, GitLab, Buildkite, Azure Pipelines, Bitbucket Pipelines, Codefresh or " in (
        done.stderr
    )
