"""The fake Port holds requests to Port's published contract and behaves as Port's docs say (over real sockets)."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Iterator

import jsonschema  # noqa: F401 - the fake checks nothing without it: fail here rather than pass unchecked
import pytest
import requests

from cirelay.emulators import port as fakeport


@pytest.fixture
def fake() -> Iterator[fakeport.PortFake]:
    server = fakeport.make_server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def token(fake: fakeport.PortFake) -> str:
    body = {"clientId": fakeport.CLIENT_ID, "clientSecret": fakeport.CLIENT_SECRET}
    answer = requests.post(f"{fake.url}/v1/auth/access_token", json=body, timeout=10)
    assert answer.status_code == 200
    return str(answer.json()["accessToken"])


def call(fake: fakeport.PortFake, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token(fake)}"}
    return requests.request(method, f"{fake.url}{path}", headers=headers, timeout=10, **kwargs)


def test_the_contract_is_checked() -> None:
    from cirelay.emulators import port_contract

    assert port_contract.CAN_CHECK


def test_every_operation_of_the_contract_has_a_route(fake: fakeport.PortFake) -> None:
    contract = fakeport.contract()
    assert len(contract.operations) == 14
    for op in contract.operations:
        path = op.key.split(" ", 1)[1].replace("{", "").replace("}", "")
        answer = requests.request(op.method, f"{fake.url}{path}", timeout=10)
        assert answer.status_code != 404 or answer.json()["error"] == "not_found", op.key
        assert "no route" not in answer.text, op.key


def test_a_query_parameter_the_spec_lacks_is_refused_and_recorded(fake: fakeport.PortFake) -> None:
    answer = call(fake, "GET", "/v1/blueprints/microservice/entities/payments", params={"fields": "identifier"})
    assert answer.status_code == 422
    assert fake.violations == [
        "GET /v1/blueprints/microservice/entities/payments: query parameter 'fields' is not a parameter of "
        "GET /v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}"
    ]


def test_a_body_field_the_spec_lacks_is_refused(fake: fakeport.PortFake) -> None:
    answer = call(fake, "PATCH", f"/v1/actions/runs/{fakeport.SEEDED_RUN}", json={"status": "SUCCESS", "log": "x"})
    assert answer.status_code == 422
    assert "Additional properties are not allowed ('log' was unexpected)" in fake.violations[0]
    assert fake.runs[fakeport.SEEDED_RUN]["status"] == "IN_PROGRESS"  # nothing applied


def test_required_query_parameters(fake: fakeport.PortFake) -> None:
    body = {"identifier": "x"}
    assert call(fake, "POST", "/v1/blueprints/microservice/entities", json=body).status_code == 422
    assert "required query parameter 'upsert'" in fake.violations[-1]
    assert call(fake, "DELETE", "/v1/blueprints/microservice/entities/payments").status_code == 422
    assert "required query parameter 'delete_dependents'" in fake.violations[-1]
    assert "payments" in fake.entities["microservice"]
    done = call(fake, "DELETE", "/v1/blueprints/microservice/entities/payments", params={"delete_dependents": "false"})
    assert done.status_code == 200 and done.json() == {"ok": True}


def test_identifier_outside_ports_pattern_fails_the_whole_bulk_request(fake: fakeport.PortFake) -> None:
    body = {"entities": [{"identifier": "ok-1"}, {"identifier": "bad id"}]}
    answer = call(fake, "POST", "/v1/blueprints/microservice/entities/bulk", params={"upsert": "true"}, json=body)
    assert answer.status_code == 422
    assert "ok-1" not in fake.entities["microservice"]


def test_bulk_limits_from_the_spec(fake: fakeport.PortFake) -> None:
    many = {"entities": [{"identifier": f"e{n}"} for n in range(21)]}
    answer = call(fake, "POST", "/v1/blueprints/microservice/entities/bulk", params={"upsert": "true"}, json=many)
    assert answer.status_code == 422
    ids = {"entities": [f"e{n}" for n in range(101)]}
    path = "/v1/blueprints/microservice/bulk/entities/delete"
    assert call(fake, "POST", path, params={"delete_dependents": "false"}, json=ids).status_code == 422


def test_bulk_delete_answers_what_it_deleted(fake: fakeport.PortFake) -> None:
    path = "/v1/blueprints/microservice/bulk/entities/delete"
    body = {"entities": ["payments", "nope", "search"]}
    answer = call(fake, "POST", path, params={"delete_dependents": "false"}, json=body)
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "deletedEntities": ["payments", "search"]}
    assert set(fake.entities["microservice"]) == {"checkout"}


def test_blueprint_search_include_takes_identifiers_and_meta_properties(fake: fakeport.PortFake) -> None:
    path = "/v1/blueprints/microservice/entities/search"
    query = {"combinator": "and", "rules": [{"property": "$identifier", "operator": "=", "value": "payments"}]}
    answer = call(fake, "POST", path, json={"query": query, "include": ["$identifier", "region"]})
    assert answer.json()["entities"] == [{"identifier": "payments", "properties": {"region": "eu-west-1"}}]
    # entity-JSON paths name nothing in a blueprint search
    answer = call(fake, "POST", path, json={"query": query, "include": ["identifier", "properties.region"]})
    assert answer.json()["entities"] == [{}]
    answer = call(fake, "POST", path, json={"query": query, "include": ["$nope"]})
    assert answer.status_code == 422


def test_get_entity_include_takes_entity_json_paths(fake: fakeport.PortFake) -> None:
    path = "/v1/blueprints/microservice/entities/payments"
    answer = call(fake, "GET", path, params={"include": ["identifier", "properties.region"]})
    assert answer.json()["entity"] == {"identifier": "payments", "properties": {"region": "eu-west-1"}}


def test_runs_in_v2_shape_only_when_asked(fake: fakeport.PortFake) -> None:
    path = f"/v1/actions/runs/{fakeport.SEEDED_RUN}"
    v2 = call(fake, "GET", path, params={"version": "v2"}).json()["run"]
    assert v2["action"] == {"identifier": "create_microservice", "title": "Create Microservice"}
    assert "endedAt" not in v2  # the spec's endedAt is a date-time, never null
    assert fake.violations == []
    v1 = call(fake, "GET", path).json()["run"]
    assert v1["action"] == "create_microservice"
    assert fake.violations == [f"GET {path} without version=v2 (Port: 'Please use v2')"]


def test_run_list_filters(fake: fakeport.PortFake) -> None:
    fake.add_run("r_other", "deploy_microservice", externalRunId="ci-812", entity={"identifier": "payments"})
    fake.add_run("r_done", "deploy_microservice", status="SUCCESS")
    listed = call(fake, "GET", "/v1/actions/runs", params={"version": "v2", "external_run_id": "ci-812"}).json()
    assert [r["id"] for r in listed["runs"]] == ["r_other"]
    listed = call(fake, "GET", "/v1/actions/runs", params={"version": "v2", "action": "deploy_microservice"}).json()
    assert sorted(r["id"] for r in listed["runs"]) == ["r_done", "r_other"]
    params: Dict[str, str] = {"version": "v2", "active": "true", "entity": "payments"}
    listed = call(fake, "GET", "/v1/actions/runs", params=params).json()
    assert [r["id"] for r in listed["runs"]] == ["r_other"]
    assert fake.violations == []


def test_every_reply_has_a_trace_id(fake: fakeport.PortFake) -> None:
    fake.fail_next(1, 503, {"ok": False, "error": "unavailable", "message": "busy"})
    answers = [
        requests.get(f"{fake.url}/v1/actions/runs", timeout=10),
        requests.get(f"{fake.url}/v1/actions/runs", timeout=10),
        requests.get(f"{fake.url}/nowhere", timeout=10),
    ]
    assert [a.status_code for a in answers] == [503, 401, 404]
    ids = [a.headers["X-Trace-Id"] for a in answers]
    assert len(set(ids)) == 3
    assert [t[3] for t in fake.traces] == ids


@pytest.mark.parametrize("style", ["epoch", "seconds"])
def test_rate_limit_headers_and_429_without_retry_after(fake: fakeport.PortFake, style: str) -> None:
    auth = {"Authorization": f"Bearer {token(fake)}"}
    fake.rate_limit(3, 2, reset=style)
    answers = [requests.get(f"{fake.url}/v1/actions/runs?version=v2", headers=auth, timeout=10) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["x-ratelimit-limit"] == "3" and a.headers["x-ratelimit-period"] == "2" for a in answers)
    assert "Retry-After" not in answers[3].headers
    reset = int(answers[3].headers["x-ratelimit-reset"])
    if style == "epoch":
        assert time.time() - 1 < reset <= time.time() + 2
    else:
        assert 1 <= reset <= 2
    time.sleep(reset - time.time() + 0.05 if style == "epoch" else reset + 0.05)
    assert requests.get(f"{fake.url}/v1/actions/runs?version=v2", headers=auth, timeout=10).status_code == 200
    assert fake.rate_limited == 1


def test_tokens_that_wear_out_and_tokens_refused_at_once(fake: fakeport.PortFake) -> None:
    fake.token_uses = 2
    auth = {"Authorization": f"Bearer {token(fake)}"}
    url = f"{fake.url}/v1/actions/runs?version=v2"
    assert [requests.get(url, headers=auth, timeout=10).status_code for _ in range(3)] == [200, 200, 401]
    fake.refuse_tokens = True
    auth = {"Authorization": f"Bearer {token(fake)}"}
    assert requests.get(url, headers=auth, timeout=10).status_code == 401


def test_lose_the_answer_after_applying(fake: fakeport.PortFake) -> None:
    fake.lose_answer_next(1, match=r"^PATCH ")
    answer = call(fake, "PATCH", f"/v1/actions/runs/{fakeport.SEEDED_RUN}", json={"status": "SUCCESS"})
    assert answer.status_code == 502
    assert "Bad Gateway" in answer.text
    assert fake.runs[fakeport.SEEDED_RUN]["status"] == "SUCCESS"  # applied all the same
    fake.lose_answer_next(1, match=r"^DELETE ", status=None)
    with pytest.raises(requests.ConnectionError):
        call(fake, "DELETE", "/v1/blueprints/microservice/entities/search", params={"delete_dependents": "false"})
    assert "search" not in fake.entities["microservice"]


def test_hold_keeps_requests_in_flight_until_released(fake: fakeport.PortFake) -> None:
    auth = {"Authorization": f"Bearer {token(fake)}"}
    fake.hold(r"^GET /v1/actions/runs$")
    answers: list = []
    worker = threading.Thread(
        target=lambda: answers.append(
            requests.get(f"{fake.url}/v1/actions/runs?version=v2", headers=auth, timeout=10).status_code
        )
    )
    worker.start()
    deadline = time.monotonic() + 5
    while fake.holding < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.holding == 1 and answers == []
    fake.release()
    worker.join(5)
    assert answers == [200]


def test_replies_outside_the_contract_are_caught(fake: fakeport.PortFake) -> None:
    fake.runs[fakeport.SEEDED_RUN]["source"] = None  # run_out drops it, and the spec requires it
    answer = call(fake, "GET", f"/v1/actions/runs/{fakeport.SEEDED_RUN}", params={"version": "v2"})
    assert answer.status_code == 500
    assert "'source' is a required property" in fake.violations[0]
