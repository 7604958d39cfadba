"""scripts/port.py against the contract-checked fake Port, over real sockets, as Port really behaves.

Port's published OpenAPI spec and docs (cirelay/emulators/contracts/port-openapi.json): official hosts, x-ratelimit-*
rate limits, the two include/exclude forms, required query parameters, action runs v2, answers lost on the
way back, bulk delete, bulk upsert across blueprints, the run list, one-step finish, X-Trace-Id, every CI
provider; and long work that is stopped or whose tokens expire keeps a full account.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from cirelay.emulators import port as fakeport
from tests.ci_envs import CI_ENVS
from tests.conftest import SCRIPTS, clean_env, github_outputs, run_script

ROOT = Path(__file__).resolve().parent.parent
MICRO = "/v1/blueprints/microservice/entities"


@pytest.fixture
def fake() -> Iterator[fakeport.PortFake]:
    server = fakeport.make_server()
    server.start()
    try:
        yield server
    finally:
        server.release()
        server.stop()
    assert server.violations == []  # every request fit Port's contract, every reply too


@pytest.fixture
def env(fake: fakeport.PortFake, tmp_path: Path) -> Dict[str, str]:
    return {**fakeport.env_for(fake.url), "RUNNER_TEMP": str(tmp_path)}


def port(env: Dict[str, str], *args: str, extra: Optional[Dict[str, str]] = None, input: Optional[str] = None):
    done = run_script("port", *args, env={**env, **(extra or {})}, input=input)
    assert fakeport.CLIENT_SECRET not in done.stdout + done.stderr
    return done


def tokens_asked(fake: fakeport.PortFake) -> int:
    return len(fake.seen("POST", "/v1/auth/access_token"))


def ndjson(path: Path, items: List[dict]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return path


def entities(n: int, prefix: str = "svc") -> List[dict]:
    return [{"identifier": f"{prefix}-{k:03d}", "properties": {"region": "eu"}} for k in range(n)]


# -- 1. hosts -----------------------------------------------------------------------------------


def test_official_hosts_are_the_defaults() -> None:
    from tests.conftest import load_script

    port_module = load_script("port")
    assert port_module.api_base(None) == "https://api.port.io/v1"
    assert port_module.api_base(None, "us") == "https://api.us.port.io/v1"
    assert port_module.api_base("https://api.getport.io") == "https://api.getport.io/v1"  # still works when given


# -- 2. rate limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("reset", ["epoch", "seconds"])  # the issue saw epoch seconds, the docs say seconds left
def test_bulk_through_a_rate_limit_window_loses_nothing_and_says_it_waited(
    fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path, reset: str
) -> None:
    fake.rate_limit(6, 2, reset=reset)  # 6 requests per 2 s window; 200 entities need 10 bulk requests + a token
    items = entities(200)
    done = port(env, "entity", "bulk-upsert", "-b", "microservice", "--file", str(ndjson(tmp_path / "e", items)))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"upserted": [i["identifier"] for i in items], "failed": [], "not_attempted": []}
    waits = [line for line in done.stderr.splitlines() if line.startswith("Port's rate limit")]
    assert 1 <= len(waits) <= 3, done.stderr  # one line per window waited for, not one per request
    assert fake.rate_limited <= 4  # it paused when x-ratelimit-remaining hit 0 instead of hammering


def test_429_waits_for_x_ratelimit_reset_bounded_by_cirelay_max_wait(
    fake: fakeport.PortFake, env: Dict[str, str]
) -> None:
    far = str(int(time.time()) + 3600)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": far, "x-ratelimit-limit": "100"}
    fake.fail_next(1, 429, {"ok": False, "error": "rate_limit"}, headers, match=f"^POST {MICRO}$")
    started = time.monotonic()
    done = port(env, "entity", "upsert", "-b", "microservice", "-i", "limited", extra={"CIRELAY_MAX_WAIT": "1"})
    assert done.returncode == 0, done.stderr
    assert 0.9 <= time.monotonic() - started < 30
    assert "waiting 1.0 s for the window to reset" in done.stderr
    assert len(fake.seen("POST", MICRO)) == 2


def test_retry_after_wins_over_x_ratelimit_reset(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    headers = {"Retry-After": "1", "x-ratelimit-reset": str(int(time.time()) + 3600)}
    fake.fail_next(1, 429, {"ok": False, "error": "rate_limit"}, headers, match=f"^POST {MICRO}$")
    done = port(env, "entity", "upsert", "-b", "microservice", "-i", "limited")
    assert done.returncode == 0, done.stderr
    assert "waiting 1.0 s" in done.stderr


# -- 3. include/exclude in either form --------------------------------------------------------


@pytest.mark.parametrize("fields", [("identifier", "properties.region"), ("$identifier", "region")])
def test_search_and_get_take_either_form(fake: fakeport.PortFake, env: Dict[str, str], fields: tuple) -> None:
    query = json.dumps(
        {"combinator": "and", "rules": [{"property": "$identifier", "operator": "=", "value": "search"}]}
    )
    include = [a for f in fields for a in ("--include", f)]
    done = port(env, "entity", "search", "-b", "microservice", "--query", query, *include)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"identifier": "search", "properties": {"region": "us-east-1"}}]
    assert json.loads(fake.seen("POST", f"{MICRO}/search")[-1].body)["include"] == ["$identifier", "region"]
    done = port(env, "entity", "get", "-b", "microservice", "-i", "search", *include)
    assert json.loads(done.stdout) == {"identifier": "search", "properties": {"region": "us-east-1"}}
    assert fake.seen("GET", f"{MICRO}/search")[-1].query["include"] == ["identifier", "properties.region"]
    done = port(env, "entity", "search", "--query", '{"combinator": "and", "rules": []}', *include, "--limit", "1")
    assert json.loads(done.stdout) == [{"identifier": "checkout", "properties": {"region": "eu-west-1"}}]


# -- 4. required query parameters -------------------------------------------------------------


def test_required_parameters_always_sent(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    assert port(env, "entity", "delete", "-b", "microservice", "-i", "search").returncode == 0
    assert fake.seen("DELETE", f"{MICRO}/search")[0].query["delete_dependents"] == ["false"]
    assert port(env, "entity", "delete", "-b", "microservice", "-i", "checkout", "--delete-dependents").returncode == 0
    assert fake.seen("DELETE", f"{MICRO}/checkout")[0].query["delete_dependents"] == ["true"]
    assert port(env, "entity", "upsert", "-b", "microservice", "-i", "new").returncode == 0
    assert fake.seen("POST", MICRO)[0].query["upsert"] == ["true"]


# -- 5. action runs v2, and what a 422 means ------------------------------------------------------


def test_runs_are_read_in_v2(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    done = port(env, "run", "get", fakeport.SEEDED_RUN)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["action"] == {"identifier": "create_microservice", "title": "Create Microservice"}
    assert fake.seen("GET", f"/v1/actions/runs/{fakeport.SEEDED_RUN}")[0].query["version"] == ["v2"]


def test_a_422_is_already_finished_only_when_the_run_is(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    refusal = {"ok": False, "error": "invalid_request", "message": "body/statusLabel must be string"}
    fake.fail_next(1, 422, refusal, match=r"^PATCH ")
    done = port(env, "run", "update", fakeport.SEEDED_RUN, "--status-label", "x")
    assert done.returncode == 1
    assert "body/statusLabel must be string" in done.stderr and "already finished" not in done.stderr
    fake.runs[fakeport.SEEDED_RUN]["status"] = "SUCCESS"
    done = port(env, "run", "update", fakeport.SEEDED_RUN, "--status", "FAILURE")
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"Error: action run {fakeport.SEEDED_RUN} has already finished and cannot be changed: the run is SUCCESS; "
    )


# -- 6. answers lost on the way back ----------------------------------------------------------


@pytest.mark.parametrize("lost", [502, None])
def test_run_update_whose_answer_is_lost_succeeds(fake: fakeport.PortFake, env: Dict[str, str], lost) -> None:
    fake.lose_answer_next(1, match=r"^PATCH ", status=lost)
    done = port(env, "run", "update", fakeport.SEEDED_RUN, "--status", "SUCCESS", "--summary", "deployed")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "SUCCESS"
    assert "a read shows it applied" in done.stderr


def test_final_log_whose_answer_is_lost_is_not_sent_twice(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    fake.lose_answer_next(1, match=r"^POST /v1/actions/runs/.*/logs$")
    done = port(env, "run", "log", fakeport.SEEDED_RUN, "all done", "--termination-status", "SUCCESS")
    assert done.returncode == 0, done.stderr
    assert [e["message"] for e in fake.run_logs[fakeport.SEEDED_RUN]] == ["all done"]
    assert fake.runs[fakeport.SEEDED_RUN]["status"] == "SUCCESS"
    assert json.loads(done.stdout)["message"] == "all done"


def test_plain_log_line_is_resent_only_when_it_did_not_arrive(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    fake.lose_answer_next(1, match=r"^POST /v1/actions/runs/.*/logs$", status=None)  # arrived, answer lost
    assert port(env, "run", "log", fakeport.SEEDED_RUN, "step one").returncode == 0
    fake.fail_next(1, 502, "<html>502</html>", match=r"^POST /v1/actions/runs/.*/logs$")  # never arrived
    done = port(env, "run", "log", fakeport.SEEDED_RUN, "step two")
    assert done.returncode == 0, done.stderr
    assert "it did not arrive: sending it again" in done.stderr
    assert [e["message"] for e in fake.run_logs[fakeport.SEEDED_RUN]] == ["step one", "step two"]


@pytest.mark.parametrize("lost", [502, None])
def test_entity_delete_whose_answer_is_lost_succeeds(fake: fakeport.PortFake, env: Dict[str, str], lost) -> None:
    fake.lose_answer_next(1, match=r"^DELETE ", status=lost)
    done = port(env, "entity", "delete", "-b", "microservice", "-i", "payments")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"] is True
    assert "payments" not in fake.entities["microservice"]


# -- 7. bulk delete ---------------------------------------------------------------------------------


def test_bulk_delete_in_chunks_of_100_accounts_for_every_input(
    fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path
) -> None:
    for item in entities(230, "old"):
        fake.entities["microservice"][item["identifier"]] = {**item, "blueprint": "microservice"}
    ids = [f"old-{k:03d}" for k in range(1, 230)] + ["ghost"]
    path = ndjson(tmp_path / "ids", [{"identifier": i} for i in ids[1:]])
    done = port(env, "entity", "delete", "-b", "microservice", "-i", ids[0], "--file", str(path))
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["deleted"] == ids[:-1]
    assert result["failed"] == [
        {
            "index": 229,
            "identifier": "ghost",
            "error": "not_found",
            "message": "entity ghost not found in blueprint microservice",
        }
    ]
    assert result["not_attempted"] == []
    assert set(fake.entities["microservice"]) == {"payments", "checkout", "search", "old-000"}
    sent = [
        json.loads(r.body)["entities"] for r in fake.seen("POST", "/v1/blueprints/microservice/bulk/entities/delete")
    ]
    assert sorted(len(s) for s in sent) == [30, 100, 100]


def test_bulk_delete_lost_answer_is_read_back(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    fake.lose_answer_next(1, match="bulk/entities/delete", status=None)
    done = port(env, "entity", "delete", "-b", "microservice", "-i", "payments", "-i", "checkout")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"deleted": ["payments", "checkout"], "failed": [], "not_attempted": []}


def test_bulk_delete_whose_answers_stay_lost_is_read_back(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    # 502 to every attempt urllib3 makes, the last one after applying: one search says what is gone.
    fake.lose_answer_next(1, match="bulk/entities/delete")
    fake.fail_next(4, 502, "<html>502</html>", match="bulk/entities/delete")
    done = port(env, "entity", "delete", "-b", "microservice", "-i", "payments", "-i", "checkout", "-i", "ghost")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["deleted"] == ["payments", "checkout", "ghost"]  # absent, all three (ghost never existed)
    assert result["failed"] == [] and result["not_attempted"] == []
    assert "a read shows what is gone" in done.stderr
    assert len(fake.seen("POST", f"{MICRO}/search")) == 1


# -- 8. bulk upsert across blueprints ----------------------------------------------------------


def test_bulk_upsert_across_blueprints(fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path) -> None:
    items = [{"identifier": f"m-{k}", "blueprint": "microservice"} for k in range(25)]
    items += [{"identifier": f"i-{k}", "blueprint": "image", "relations": {"service": "m-0"}} for k in range(3)]
    path = ndjson(tmp_path / "e", items)
    done = port(env, "entity", "bulk-upsert", "--file", str(path), "--validate-only")
    assert done.returncode == 0, done.stderr
    assert not any(k.startswith(("m-", "i-")) for bp in fake.entities.values() for k in bp)  # validated only
    done = port(env, "entity", "bulk-upsert", "--file", str(path), "--create-missing-related")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["upserted"] == [i["identifier"] for i in items]
    assert set(fake.entities["image"]) == {"i-0", "i-1", "i-2"}
    assert (
        "blueprint" not in json.loads(fake.seen("POST", "/v1/blueprints/image/entities/bulk")[-1].body)["entities"][0]
    )
    assert fake.seen("POST", "/v1/blueprints/image/entities/bulk")[-1].query["create_missing_related_entities"] == [
        "true"
    ]
    assert len(fake.seen("POST", f"{MICRO}/bulk")) == 4  # 20 + 5, twice
    done = port(env, "entity", "bulk-upsert", "--file", "-", input='{"identifier": "x"}\n')
    assert done.returncode == 2
    assert 'missing -b/--blueprint: item 1 of the file has no "blueprint" field' in done.stderr


# -- 9. run list ---------------------------------------------------------------------------------


def test_run_list_finds_the_run_a_pipeline_reports_to(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    assert port(env, "run", "update", fakeport.SEEDED_RUN, "--external-run-id", "ci-812").returncode == 0
    fake.add_run("r_done", "deploy_microservice", status="SUCCESS")
    done = port(env, "run", "list", "--external-run-id", "ci-812")
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in json.loads(done.stdout)] == [fakeport.SEEDED_RUN]
    done = port(env, "run", "list", "--action", "deploy_microservice")
    assert [r["id"] for r in json.loads(done.stdout)] == ["r_done"]
    done = port(env, "run", "list", "--active")
    assert [r["id"] for r in json.loads(done.stdout)] == [fakeport.SEEDED_RUN]
    assert all(r.query["version"] == ["v2"] for r in fake.seen("GET", "/v1/actions/runs"))


# -- 10. one step to finish a run ----------------------------------------------------------------


def test_run_update_with_log_sends_the_line_before_the_status(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    done = port(env, "run", "update", fakeport.SEEDED_RUN, "--status", "SUCCESS", "--log", "deployed 1.4.2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "SUCCESS"
    assert [e["message"] for e in fake.run_logs[fakeport.SEEDED_RUN]] == ["deployed 1.4.2"]
    order = [r.method for r in fake.requests if r.path.startswith("/v1/actions/runs/")]
    assert order == ["POST", "PATCH"]


def test_rerun_of_a_finished_update_with_log_is_done(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    args = ("run", "update", fakeport.SEEDED_RUN, "--status", "SUCCESS", "--log", "deployed 1.4.2")
    assert port(env, *args).returncode == 0
    done = port(env, *args)  # the step is re-run: both already went through
    assert done.returncode == 0, done.stderr
    assert "nothing left to do" in done.stderr
    assert [e["message"] for e in fake.run_logs[fakeport.SEEDED_RUN]] == ["deployed 1.4.2"]
    assert port(env, "run", "update", fakeport.SEEDED_RUN, "--status", "FAILURE", "--log", "x").returncode == 1


# -- 11. X-Trace-Id ----------------------------------------------------------------------------------


def test_errors_name_ports_trace_id(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    done = port(env, "entity", "get", "-b", "microservice", "-i", "missing")
    assert done.returncode == 1
    (trace,) = [t[3] for t in fake.traces if t[1] == f"{MICRO}/missing"]
    assert done.stderr.rstrip().endswith(f"; X-Trace-Id {trace})")


# -- ci report on every provider -----------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(CI_ENVS))
def test_ci_report_on_each_provider(fake: fakeport.PortFake, env: Dict[str, str], provider: str) -> None:
    ci_env, identifier, expected = CI_ENVS[provider]
    done = port(env, "ci", "report", "-b", "ciJob", "--status", "success", extra=ci_env)
    assert done.returncode == 0, done.stderr
    stored = fake.entities["ciJob"][identifier]["properties"]
    finished = stored.pop("finishedAt")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", finished)
    assert stored == {**expected, "status": "success"}


def test_ci_report_fits_an_existing_blueprint_with_map(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    ci_env, identifier, expected = CI_ENVS["gitlab"]
    maps = [
        "--map",
        "commit=commitHash",
        "--map",
        "url=runLink",
        "--map",
        "branch=jobBranch",
        "--map",
        "triggeredBy=triggeredBy",
    ]
    done = port(
        env,
        "ci",
        "report",
        "-b",
        "ciJob",
        *maps,
        "--relation",
        "service=payments",
        "--create-missing-related",
        extra=ci_env,
    )
    assert done.returncode == 0, done.stderr
    assert fake.entities["ciJob"][identifier]["properties"] == {
        "commitHash": expected["commit"],
        "runLink": expected["url"],
        "jobBranch": expected["branch"],
        "triggeredBy": expected["triggeredBy"],
    }
    assert fake.seen("POST", "/v1/blueprints/ciJob/entities")[0].query["create_missing_related_entities"] == ["true"]
    done = port(env, "ci", "report", "-b", "ciJob", "--map", "sha=commitHash", extra=ci_env)
    assert done.returncode == 2
    assert "unknown field 'sha'" in done.stderr


def test_shipped_blueprint_has_every_field() -> None:
    blueprint = json.loads((ROOT / "docs" / "port-ci-job-blueprint.json").read_text())
    from tests.conftest import load_script

    fields = load_script("port").CI_FIELDS
    assert set(blueprint["schema"]["properties"]) == set(fields)
    assert blueprint["identifier"] == "ciJob"


# -- stopped bulk work (issue 14) ------------------------------------------------------------------


def start(env: Dict[str, str], *args: str, extra: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPTS / "port.py"), *args],
        env=clean_env({**env, **(extra or {})}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_holding(fake: fakeport.PortFake, n: int) -> None:
    deadline = time.monotonic() + 30
    while fake.holding < n:
        assert time.monotonic() < deadline, f"only {fake.holding} requests held"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopped_bulk_upsert_keeps_a_full_account(
    fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path, sig: int
) -> None:
    items = entities(400)
    out = tmp_path / "out"
    fake.hold(f"^POST {MICRO}/bulk$")
    proc = start(
        env,
        "entity",
        "bulk-upsert",
        "-b",
        "microservice",
        "--file",
        str(ndjson(tmp_path / "e", items)),
        extra={"GITHUB_OUTPUT": str(out)},
    )
    wait_holding(fake, 4)  # four batches of 20 in flight, held by the fake
    proc.send_signal(sig)
    time.sleep(0.5)
    fake.release()  # the batches in flight finish within the grace
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    result = json.loads(stdout)
    assert len(result["upserted"]) == 80 and result["failed"] == []
    assert [s["index"] for s in result["not_attempted"]] == list(range(80, 400))
    assert result["not_attempted"][0] == {"index": 80, "identifier": "svc-080"}
    assert sorted(result["upserted"]) == sorted(
        fake.entities["microservice"].keys() - {"payments", "checkout", "search"}
    )
    assert len(fake.seen("POST", f"{MICRO}/bulk")) == 4  # nothing sent after the signal
    assert json.loads(github_outputs(out)["result"]) == result
    assert "interrupted: 80 upserted, 0 failed, 320 not attempted" in stderr

    # What is left goes back in with jq, as the README shows.
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    leftover = tmp_path / "leftover.ndjson"
    script = (
        f"jq -c --slurpfile all {tmp_path / 'e'} '.not_attempted[].index as $i | $all[$i]' {tmp_path / 'result.json'}"
    )
    (tmp_path / "result.json").write_text(stdout)
    leftover.write_text(subprocess.run(script, shell=True, capture_output=True, text=True, check=True).stdout)
    done = port(env, "entity", "bulk-upsert", "-b", "microservice", "--file", str(leftover))
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["upserted"]) == 320
    assert {i["identifier"] for i in items} <= set(fake.entities["microservice"])


def test_second_signal_stops_at_once(fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path) -> None:
    fake.hold(f"^POST {MICRO}/bulk$")
    proc = start(
        env,
        "entity",
        "bulk-upsert",
        "-b",
        "microservice",
        "--file",
        str(ndjson(tmp_path / "e", entities(100))),
        "--concurrency",
        "2",
    )
    wait_holding(fake, 2)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - started < 5  # not the 10 s grace
    assert proc.returncode == 130, stderr
    result = json.loads(stdout)
    assert result["upserted"] == []
    assert [f["index"] for f in result["failed"]] == list(range(40))
    assert {f["error"] for f in result["failed"]} == {"interrupted"}
    assert [s["index"] for s in result["not_attempted"]] == list(range(40, 100))


def test_stopped_bulk_delete_keeps_a_full_account(fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path) -> None:
    for item in entities(500, "old"):
        fake.entities["microservice"][item["identifier"]] = {**item, "blueprint": "microservice"}
    ids = [f"old-{k:03d}" for k in range(500)]
    fake.hold("bulk/entities/delete$")
    proc = start(env, "entity", "delete", "-b", "microservice", "--file", str(ndjson(tmp_path / "ids", ids)))
    wait_holding(fake, 4)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    fake.release()
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    result = json.loads(stdout)
    assert len(result["deleted"]) == 400 and result["failed"] == []
    assert result["not_attempted"] == [{"index": k, "identifier": f"old-{k:03d}"} for k in range(400, 500)]


# -- tokens that expire again and again (issue 14) -------------------------------------------------


def test_tokens_that_expire_during_a_bulk_run_are_renewed_every_time(
    fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path
) -> None:
    fake.token_uses = 4
    items = entities(200)
    done = port(
        env,
        "entity",
        "bulk-upsert",
        "-b",
        "microservice",
        "--file",
        str(ndjson(tmp_path / "e", items)),
        "--concurrency",
        "2",
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["upserted"]) == 200
    renewals = done.stderr.count("Port refused the access token (401); fetching a new one")
    assert renewals >= 2 and tokens_asked(fake) == renewals + 1


def test_concurrent_401s_share_one_refresh(fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path) -> None:
    assert port(env, "run", "get", fakeport.SEEDED_RUN).returncode == 0  # a token that has worked, cached
    fake.hold(f"^POST {MICRO}/bulk$")
    proc = start(
        env, "entity", "bulk-upsert", "-b", "microservice", "--file", str(ndjson(tmp_path / "e", entities(80)))
    )
    wait_holding(fake, 4)
    fake.expire_tokens()  # all four held batches get 401 together
    fake.release()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert len(json.loads(stdout)["upserted"]) == 80
    assert tokens_asked(fake) == 2  # the first step's and one refresh for all four


def test_token_refused_on_first_use_is_a_credentials_error(fake: fakeport.PortFake, env: Dict[str, str]) -> None:
    fake.refuse_tokens = True
    done = port(env, "entity", "get", "-b", "microservice", "-i", "payments")
    assert done.returncode == 1
    assert "Port refused a new access token on its first use (401)" in done.stderr
    assert tokens_asked(fake) == 1


def test_bulk_with_credentials_refused_stops_at_once(
    fake: fakeport.PortFake, env: Dict[str, str], tmp_path: Path
) -> None:
    # Every batch would meet the same refusal: one credentials error, not one failure per batch (issue 14.2).
    fake.refuse_tokens = True
    entities = tmp_path / "e.ndjson"
    entities.write_text("".join(json.dumps({"identifier": f"svc-{n}"}) + "\n" for n in range(100)))
    done = port(env, "entity", "bulk-upsert", "-b", "microservice", "--file", str(entities))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("Error: Port refused a new access token on its first use")
    assert "batch of" not in done.stderr
    assert len(fake.seen("POST", r"/v1/blueprints/microservice/entities/bulk")) <= 4  # at most the first in flight
