"""The fake octoplant answers in the shapes of the vendor's swagger and refuses what it does not allow."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Dict, Iterator

import jsonschema
import pytest
import requests

from cirelay.emulators.octoplant import (
    CLIENT_ID,
    CLIENT_SECRET,
    CONTRACT,
    KINDS,
    PASSWORD,
    USERNAME,
    OctoplantFake,
    make_server,
    order_errors,
    schema_for,
)
from tests.conftest import load_script

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def fake() -> Iterator[OctoplantFake]:
    server = make_server()
    server.steps = 2
    server.start()
    yield server
    server.stop()


def sign_in(fake: OctoplantFake) -> Dict[str, str]:
    form = {
        "grant_type": "password",
        "username": USERNAME,
        "password": PASSWORD,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    answer = requests.post(f"{fake.url}/v1/oauth2/token", data=form, timeout=10)
    assert answer.status_code == 200
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def order(fake: OctoplantFake, auth: Dict[str, str], contents: Any) -> requests.Response:
    return requests.post(f"{fake.url}/v1/order", json={"exportContents": contents}, headers=auth, timeout=10)


def check(definition: str, body: Any) -> None:
    """body is what the server would write for this definition, and names nothing the swagger does not."""
    jsonschema.Draft4Validator(schema_for(definition, wire=True, closed=True)).validate(body)


def members(data: bytes) -> Dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_kinds_are_the_swaggers_thirteen_and_the_scripts() -> None:
    assert len(KINDS) == 13
    assert tuple(load_script("octoplant").EXPORT_KINDS) == KINDS


def test_every_answer_of_an_order_fits_the_swagger(fake: OctoplantFake) -> None:
    auth = sign_in(fake)
    created = order(fake, auth, {"projectTree": {}, "jobList": {"exportType": "EXPORT_TYPE_CSV"}})
    assert created.status_code == 200, created.text
    answers = [created.json()]
    name = answers[0]["name"]
    while not answers[-1]["done"]:
        answers.append(requests.get(f"{fake.url}/v1/order/{name}", headers=auth, timeout=10).json())
    for answer in answers:
        check("Operation", answer)
        assert "@type" not in answer["metadata"]  # an ExportState, not a google.protobuf.Any
        assert set(answer) == {"name", "metadata", "done", "error", "response"}  # EmitUnpopulated: all there
        assert isinstance(answer["metadata"]["finishedSubProcesses"], str)  # int64: a JSON string
        assert isinstance(answer["metadata"]["openSubProcesses"], str)
    assert [a["metadata"]["state"] for a in answers] == ["STATE_PENDING", "STATE_RUNNING", "STATE_SUCCEEDED"]
    assert answers[0]["error"] is None and answers[0]["response"] is None
    assert answers[-1]["response"] == {"name": name}
    assert answers[-1]["metadata"]["openSubProcesses"] == "0"
    assert answers[-1]["metadata"]["finishedSubProcesses"] == "2"
    assert fake.violations == []


def test_the_closed_check_catches_a_field_the_swagger_does_not_name() -> None:
    with pytest.raises(jsonschema.ValidationError):
        check("Operation", {"name": "x", "metadata": {"@type": "type.googleapis.com/x", "state": "STATE_PENDING"}})
    with pytest.raises(jsonschema.ValidationError):
        check("Operation", {"name": "x", "metadata": {"openSubProcesses": 2}})  # int64 as a number


def test_failed_and_cancelled_orders_carry_a_status(fake: OctoplantFake) -> None:
    auth = sign_in(fake)
    fake.fail_orders = True
    name = order(fake, auth, {"projectTree": {}}).json()["name"]
    for _ in range(fake.steps):
        failed = requests.get(f"{fake.url}/v1/order/{name}", headers=auth, timeout=10).json()
    check("Operation", failed)
    assert failed["done"] is True
    assert failed["error"]["code"] == 13
    assert failed["metadata"]["state"] == "STATE_FAILED"
    fake.fail_orders = False
    other = order(fake, auth, {"projectTree": {}}).json()["name"]
    cancel = requests.post(f"{fake.url}/v1/order/{other}/cancel", headers=auth, timeout=10)
    assert cancel.status_code == 200
    check("octoplant.exportapi.v1.Operation", requests.get(f"{fake.url}/v1/order/{other}", headers=auth).json())
    jsonschema.validate(
        cancel.json(), {**CONTRACT["paths"]["/v1/order/{name}/cancel"]["post"]["responses"]["200"]["schema"]}
    )
    assert cancel.json() == {}


@pytest.mark.parametrize(
    ("contents", "problem"),
    [
        ({"componentLog": {"componentId": UUID}}, "exportContents/componentLog/componentId: "),
        ({"projectTree": {"exportType": "EXPORT_TYPE_CSV"}}, "exportContents/projectTree/exportType: "),
        ({"jobResults": {"lastXDays": "7"}}, "exportContents/jobResults/lastXDays: "),
        ({"eventLog": {"timeStampFilter": {"filterFrom": "2025-10-01"}}}, "timeStampFilter/filterFrom: "),
        ({"eventLog": {"timeStampFilter": {"filterFrom": "2025-13-01T00:00:00Z"}}}, "timeStampFilter/filterFrom: "),
        ({"adminLog": {"flatExport": "yes"}}, "exportContents/adminLog/flatExport: "),
        ([], "exportContents: "),
    ],
    ids=["uuid-as-string", "enum-of-another-kind", "int32-as-string", "date-only", "month-13", "bool", "array"],
)
def test_an_order_the_contract_refuses_is_400_and_logged(fake: OctoplantFake, contents: Any, problem: str) -> None:
    answer = order(fake, sign_in(fake), contents)
    assert answer.status_code == 400
    body = answer.json()
    check("google.rpc.Status", body)
    assert body["code"] == 3
    assert body["message"].startswith("invalid RunExportRequest: ")
    assert problem in body["message"]
    assert len(fake.violations) == 1 and problem in fake.violations[0]
    assert fake.orders == {}


def test_a_body_without_export_contents_is_refused() -> None:
    assert order_errors({}) == ["(body): 'exportContents' is a required property"]
    assert order_errors({"exportContents": {"componentLog": {"componentId": {"data": UUID}}}}) == []
    good_time = {
        "eventLog": {
            "timeStampFilter": {"filterFrom": "2023-10-01T00:00:00Z", "filterTo": "2023-10-02T00:00:00.5+02:00"}
        }
    }
    assert order_errors({"exportContents": good_time}) == []


def test_unknown_kinds_and_options_are_dropped_as_the_server_does(fake: OctoplantFake) -> None:
    auth = sign_in(fake)
    fake.steps = 1
    contents = {
        "projectTree": {"exportType": "EXPORT_TYPE_XML", "colour": "blue"},
        "plantHistory": {"days": 3},
        "componentLog": {"componentId": {"data": UUID}},
    }
    created = order(fake, auth, contents)
    assert created.status_code == 200, created.text
    name = created.json()["name"]
    assert created.json()["metadata"]["openSubProcesses"] == "2"
    assert requests.get(f"{fake.url}/v1/order/{name}", headers=auth, timeout=10).json()["done"]
    got = members(requests.get(f"{fake.url}/v1/order/{name}/download", headers=auth, timeout=10).content)
    listed = json.loads(got["contents.json"])["exports"]
    assert [(e["kind"], e["options"]) for e in listed] == [
        ("projectTree", {"exportType": "EXPORT_TYPE_XML"}),
        ("componentLog", {"componentId": {"data": UUID}}),
    ]
    assert sorted(got) == ["componentLog.json", "contents.json", "projectTree.json"]
    assert fake.violations == []


def test_only_unknown_kinds_is_an_error(fake: OctoplantFake) -> None:
    answer = order(fake, sign_in(fake), {"plantHistory": {}})
    assert answer.status_code == 400
    assert answer.json()["code"] == 3


def test_a_fresh_order_can_read_state_unspecified_for_a_while(fake: OctoplantFake) -> None:
    auth = sign_in(fake)
    fake.unspecified_polls = 2
    created = order(fake, auth, {"projectTree": {}}).json()
    name = created["name"]
    polls = [requests.get(f"{fake.url}/v1/order/{name}", headers=auth, timeout=10).json() for _ in range(4)]
    states = [created["metadata"]["state"]] + [p["metadata"]["state"] for p in polls]
    assert states == ["STATE_UNSPECIFIED", "STATE_UNSPECIFIED", "STATE_UNSPECIFIED", "STATE_RUNNING", "STATE_SUCCEEDED"]
    assert [p["done"] for p in [created, *polls]] == [False, False, False, False, True]
    for answer in [created, *polls]:
        check("Operation", answer)


def test_an_order_never_picked_up_stays_unspecified(fake: OctoplantFake) -> None:
    auth = sign_in(fake)
    fake.never_picked_up = True
    name = order(fake, auth, {"projectTree": {}}).json()["name"]
    for _ in range(5):
        poll = requests.get(f"{fake.url}/v1/order/{name}", headers=auth, timeout=10).json()
        assert (poll["metadata"]["state"], poll["done"]) == ("STATE_UNSPECIFIED", False)


def finished(fake: OctoplantFake) -> Any:
    auth = sign_in(fake)
    fake.steps = 1
    name = order(fake, auth, {"projectTree": {}}).json()["name"]
    assert requests.get(f"{fake.url}/v1/order/{name}", headers=auth, timeout=10).json()["done"]
    return auth, f"{fake.url}/v1/order/{name}/download"


def test_the_download_is_a_chunked_stream_unless_told(fake: OctoplantFake) -> None:
    auth, url = finished(fake)
    streamed = requests.get(url, headers=auth, timeout=10)
    assert streamed.status_code == 200
    assert streamed.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in streamed.headers
    fake.download_length = True
    sized = requests.get(url, headers=auth, timeout=10)
    assert sized.headers["Content-Length"] == str(len(sized.content))
    assert members(sized.content).keys() == members(streamed.content).keys() == {"contents.json", "projectTree.json"}


@pytest.mark.parametrize(("code", "status"), [(9, 400), (7, 403), (5, 404), (13, 500), (14, 503), (15, 500)])
def test_a_stream_error_before_the_first_byte_has_the_codes_http_status(
    fake: OctoplantFake, code: int, status: int
) -> None:
    auth, url = finished(fake)
    fake.download_error = {"code": code, "message": "export file is gone"}
    answer = requests.get(url, headers=auth, timeout=10)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.content.endswith(b"}\n")
    body = answer.json()
    assert body == {"error": {"code": code, "message": "export file is gone", "details": []}}
    check("google.rpc.Status", body["error"])


def test_a_stream_error_can_come_as_a_bare_status(fake: OctoplantFake) -> None:
    auth, url = finished(fake)
    fake.download_error = {"code": 9, "message": "not yet", "bare": True}
    answer = requests.get(url, headers=auth, timeout=10)
    assert answer.status_code == 400
    assert answer.json() == {"code": 9, "message": "not yet", "details": []}


def test_a_stream_error_after_bytes_is_appended_under_200(fake: OctoplantFake) -> None:
    auth, url = finished(fake)
    whole = requests.get(url, headers=auth, timeout=10).content
    fake.download_error = {"code": 15, "message": "read error on export file", "after": 100}
    answer = requests.get(url, headers=auth, timeout=10)
    assert answer.status_code == 200
    error = json.dumps({"error": {"code": 15, "message": "read error on export file", "details": []}}).encode()
    assert answer.content == whole[:100] + error + b"\n"
    fake.download_error = {"code": 13, "message": "late", "after": len(whole) + 10}
    late = requests.get(url, headers=auth, timeout=10).content
    assert late.startswith(whole) and late[len(whole) :].startswith(b'{"error": {"code": 13')


def test_sign_in_refusals_are_statuses(fake: OctoplantFake) -> None:
    form = {"grant_type": "password", "username": USERNAME, "password": "wrong", "client_id": CLIENT_ID}
    refused = requests.post(f"{fake.url}/v1/oauth2/token", data={**form, "client_secret": CLIENT_SECRET}, timeout=10)
    assert refused.status_code == 401
    check("google.rpc.Status", refused.json())
    assert refused.json()["code"] == 16
    wrong_client = requests.post(f"{fake.url}/v1/oauth2/token", data={**form, "client_secret": "x"}, timeout=10)
    assert (wrong_client.status_code, wrong_client.json()["code"]) == (401, 16)
    grant = requests.post(f"{fake.url}/v1/oauth2/token", data={"grant_type": "client_credentials"}, timeout=10)
    assert (grant.status_code, grant.json()["code"]) == (400, 3)


def test_tokens_stop_working_after_their_uses(fake: OctoplantFake) -> None:
    fake.token_uses = 2
    auth = sign_in(fake)
    answers = [requests.get(f"{fake.url}/v1/order/nope", headers=auth, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [404, 404, 401]
    assert answers[2].json() == {"code": 16, "message": "access token expired", "details": []}
    fake.token_uses = 0
    assert requests.get(f"{fake.url}/v1/order/nope", headers=sign_in(fake), timeout=10).status_code == 401
    no_token = requests.get(f"{fake.url}/v1/order/nope", timeout=10)
    assert (no_token.status_code, no_token.json()["code"]) == (401, 16)
