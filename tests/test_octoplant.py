"""scripts/octoplant.py against responses-mocked HTTP: commands, errors, waits, downloads."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import responses
from responses import matchers, registries

from cirelay.emulators.octoplant import CONTRACT_PATH
from tests.conftest import cli_runner, load_script

octo = load_script("octoplant")

BASE = "https://octoplant.test:64023"
TOKEN_URL = f"{BASE}/v1/oauth2/token"
ORDER_URL = f"{BASE}/v1/order"
NAME = "ord-1"
SECRET = "s3cr3t-client"
PASSWORD = "pw-never-shown"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("OCTOPLANT_", "GITHUB_", "CIRELAY_")) or key == "REQUESTS_CA_BUNDLE":
            monkeypatch.delenv(key)
    monkeypatch.setenv("OCTOPLANT_URL", BASE)
    monkeypatch.setenv("OCTOPLANT_USERNAME", "versiondog")
    monkeypatch.setenv("OCTOPLANT_PASSWORD", PASSWORD)
    monkeypatch.setenv("OCTOPLANT_CLIENT_SECRET", SECRET)


def order(state: str, done: bool = False, error: Any = None, finished: int = 0, still_open: int = 1) -> Dict:
    body: Dict[str, Any] = {
        "name": NAME,
        "metadata": {
            "state": state,
            "currentSubProcess": "projectTree",
            "finishedSubProcesses": finished,
            "openSubProcesses": still_open,
        },
        "done": done,
    }
    if error is not None:
        body["error"] = error
    return body


def zip_bytes(members: Dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


ZIP = zip_bytes({"contents.json": b'{"exports": ["projectTree"]}', "projectTree.json": b"[1, 2, 3]"})
# What an export of two kinds holds: contents.json lists both (a kind missing there is a warning).
ZIP2 = zip_bytes(
    {
        "contents.json": b'{"exports": ["projectTree", "jobList"]}',
        "projectTree.json": b"[1, 2, 3]",
        "jobList.json": b"[4]",
    }
)


def add_token(rsps: responses.RequestsMock, token: str = "tok-1", client_id: str = "public-api") -> None:
    form = {
        "grant_type": "password",
        "username": "versiondog",
        "password": PASSWORD,
        "client_id": client_id,
        "client_secret": SECRET,
    }
    rsps.post(
        TOKEN_URL,
        json={"access_token": token, "token_type": "Bearer", "expires_in": 3600},
        match=[matchers.urlencoded_params_matcher(form)],
    )


def bearer(token: str = "tok-1") -> Any:
    return matchers.header_matcher({"Authorization": f"Bearer {token}"})


def no_leftovers(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


# -- export ---------------------------------------------------------------------------------------


def test_export_orders_polls_downloads_and_checks(tmp_path: Path, no_sleep: list, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    outputs = tmp_path / "gh-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    target = tmp_path / "artifacts" / "export.zip"
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.post(
            ORDER_URL,
            json=order("STATE_PENDING"),
            match=[matchers.json_params_matcher({"exportContents": {"projectTree": {}, "jobList": {}}}), bearer()],
        )
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING", finished=0, still_open=2), match=[bearer()])
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING", finished=0, still_open=2), match=[bearer()])
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING", finished=1, still_open=1), match=[bearer()])
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True, finished=2, still_open=0))
        rsps.get(
            f"{ORDER_URL}/{NAME}/download",
            body=ZIP2,
            content_type="application/zip",
            match=[bearer(), matchers.header_matcher({"Accept-Encoding": "identity"})],
        )
        result = cli_runner().invoke(
            octo.cli, ["export", "--contents", "projectTree", "--contents", "JOBLIST", "-o", str(target)]
        )
    assert result.exit_code == 0, result.stderr
    expected = {
        "name": NAME,
        "state": "STATE_SUCCEEDED",
        "path": str(target),
        "bytes": len(ZIP2),
        "sha256": hashlib.sha256(ZIP2).hexdigest(),
        "members": ["contents.json", "projectTree.json", "jobList.json"],
    }
    assert json.loads(result.stdout) == expected
    assert target.read_bytes() == ZIP2
    assert no_leftovers(target.parent) == ["export.zip"]
    assert no_sleep == [1.0, 1.5, 2.25]  # start 1 s, ×1.5
    assert result.stderr.splitlines() == [
        "ordered export ord-1 (projectTree, jobList)",
        "export order ord-1: STATE_RUNNING, sub-processes 0 finished, 2 open",
        "export order ord-1: STATE_RUNNING, sub-processes 1 finished, 1 open",
        "export order ord-1: STATE_SUCCEEDED",
        f"saved export order ord-1 to {target} ({len(ZIP2)} bytes, 3 members)",
    ]
    text = outputs.read_text()
    assert f"\n{target}\n" in text
    assert f"\n{expected['sha256']}\n" in text
    assert "order<<" in text and f"\n{NAME}\n" in text


def test_contents_json_with_options_and_extra_kind(tmp_path: Path, no_sleep: list) -> None:
    options = {"projectTree": {"exportType": "EXPORT_TYPE_JSON", "versionInformation": "VERSION_INFORMATION_ALL"}}
    with responses.RequestsMock() as rsps:
        add_token(rsps)
        rsps.post(
            ORDER_URL,
            json=order("STATE_PENDING"),
            match=[matchers.json_params_matcher({"exportContents": {**options, "eventLog": {}}})],
        )
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True))
        rsps.get(f"{ORDER_URL}/{NAME}/download", body=ZIP)
        result = cli_runner().invoke(
            octo.cli,
            ["export", "--contents-json", json.dumps(options), "--contents", "eventLog", "-o", str(tmp_path / "e.zip")],
        )
    assert result.exit_code == 0, result.stderr
    assert no_sleep == []


@pytest.mark.parametrize(
    "args",
    [["--contents", "projectTre"], ["--contents-json", '{"projectTre": {}}']],
    ids=["contents", "contents-json"],
)
def test_unknown_export_kind_is_exit_2_listing_the_known(tmp_path: Path, args: List[str]) -> None:
    with responses.RequestsMock():  # nothing may be sent
        result = cli_runner().invoke(octo.cli, ["export", *args, "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 2
    assert "unknown export kind 'projectTre'; known kinds: projectTree, jobList, jobResults, " in result.stderr
    assert "assetState, usageInformation" in result.stderr
    assert result.stdout == ""


def test_contents_json_options_must_be_objects(tmp_path: Path) -> None:
    result = cli_runner().invoke(octo.cli, ["export", "--contents-json", '{"jobList": 1}', "-o", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "the options of jobList must be a JSON object, got int" in result.stderr


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("OCTOPLANT_URL", "missing --url: pass it or set OCTOPLANT_URL"),
        ("OCTOPLANT_USERNAME", "missing --username: pass it or set OCTOPLANT_USERNAME"),
        ("OCTOPLANT_PASSWORD", "missing OCTOPLANT_PASSWORD: set it in the environment (never on the command line)"),
    ],
)
def test_missing_settings_are_exit_2(monkeypatch: pytest.MonkeyPatch, unset: str, message: str) -> None:
    monkeypatch.delenv(unset)
    with responses.RequestsMock():
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 2
    assert message in result.stderr


def test_url_must_be_http_or_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCTOPLANT_URL", "octoplant.example.com:64023")
    result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 2
    assert "--url must start with https:// or http://, got 'octoplant.example.com:64023'" in result.stderr


def test_sign_in_refused_says_so_without_the_password() -> None:
    with responses.RequestsMock() as rsps:
        rsps.post(
            TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "invalid user credentials"}
        )
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 1
    # Issue 12 point 4: the sentence is about the user name and password, and the server's own words are left
    # out (they may quote the user name back).
    assert result.stderr == (
        "Error: octoplant refused the user name or password (HTTP 400): check OCTOPLANT_USERNAME and "
        "OCTOPLANT_PASSWORD (and OCTOPLANT_CLIENT_ID / OCTOPLANT_CLIENT_SECRET if they are set) "
        f"(POST {TOKEN_URL})\n"
    )
    assert PASSWORD not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout
    assert "versiondog" not in result.stderr + result.stdout


@pytest.mark.parametrize("status", [400, 401])
def test_sign_in_refusal_is_never_retried_and_names_the_grpc_code(status: int) -> None:
    with responses.RequestsMock() as rsps:
        refused = rsps.post(TOKEN_URL, status=status, json={"code": 16, "message": "user versiondog unknown"})
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 1
    assert refused.call_count == 1
    assert result.stderr.startswith(f"Error: octoplant refused the user name or password (HTTP {status}): ")
    assert result.stderr.endswith(f"; gRPC status UNAUTHENTICATED (16) (POST {TOKEN_URL})\n")
    assert "versiondog" not in result.stderr


@responses.activate(registry=registries.OrderedRegistry)
def test_sign_in_retries_429_and_503() -> None:
    responses.post(TOKEN_URL, status=503, json={"code": 14, "message": "starting"})
    responses.post(TOKEN_URL, status=429, json={"code": 8, "message": "slow down"}, headers={"Retry-After": "0"})
    add_token(responses.mock)
    responses.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"))
    result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 0, result.stderr
    assert [c.request.url for c in responses.calls] == [TOKEN_URL] * 3 + [f"{ORDER_URL}/{NAME}"]


def test_the_sign_in_retry_budget_is_short() -> None:
    from urllib3 import HTTPResponse

    retry = octo.make_sign_in_session().get_adapter(TOKEN_URL).max_retries
    assert (retry.total, retry.connect, retry.read, retry.status) == (3, 3, 3, 3)
    assert retry.status_forcelist == (429, 503)
    assert retry.allowed_methods == frozenset({"POST"})
    assert retry.get_retry_after(HTTPResponse(status=429, headers={"Retry-After": "300"})) == 10.0
    waits = []
    for _ in range(3):
        retry = retry.increment("POST", TOKEN_URL, response=HTTPResponse(status=503))
        waits.append(retry.get_backoff_time())
    assert waits == [0, 0.5, 1.0]  # about 1.5 s in all


@responses.activate(registry=registries.OrderedRegistry)
def test_sign_in_500_is_shown_at_once(no_sleep: list) -> None:
    responses.post(TOKEN_URL, status=500, json={"code": 13, "message": "database down"})
    result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 1
    assert len(responses.calls) == 1
    assert result.stderr == f"Error: database down (500, POST {TOKEN_URL}); gRPC status INTERNAL (13)\n"


def test_secrets_quoted_back_by_the_server_are_blanked() -> None:
    echo = f"bad form: grant_type=password&username=versiondog&password={PASSWORD}&client_secret={SECRET}"
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        rsps.post(TOKEN_URL, status=500, body=echo)  # a refusal (400/401) shows no server text at all
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
        assert result.exit_code == 1
        assert "password=***&client_secret=***" in result.stderr
        add_token(rsps, "tok-quoted-1")
        rsps.get(f"{ORDER_URL}/{NAME}", status=403, json={"code": 7, "message": "token tok-quoted-1 may not read"})
        result2 = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result2.exit_code == 1
    assert "token *** may not read" in result2.stderr
    for shown in (result.stdout + result.stderr, result2.stdout + result2.stderr):
        assert PASSWORD not in shown and SECRET not in shown and "tok-quoted-1" not in shown


def test_default_client_id_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCTOPLANT_CLIENT_SECRET")
    form = {
        "grant_type": "password",
        "username": "versiondog",
        "password": PASSWORD,
        "client_id": "public-api",
        "client_secret": "ff99971a-f8c3-4d21-5345-f7cb021b4b54",
    }
    with responses.RequestsMock() as rsps:
        rsps.post(TOKEN_URL, json={"access_token": "t"}, match=[matchers.urlencoded_params_matcher(form)])
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"), match=[bearer("t")])
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 0, result.stderr
    assert "ff99971a" not in result.stdout + result.stderr


def test_token_fetched_again_once_on_401_mid_wait(tmp_path: Path, no_sleep: list) -> None:
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps, "tok-1")
        rsps.post(ORDER_URL, json=order("STATE_PENDING"), match=[bearer("tok-1")])
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"), match=[bearer("tok-1")])
        rsps.get(f"{ORDER_URL}/{NAME}", status=401, json={"code": 16, "message": "access token expired"})
        add_token(rsps, "tok-2")
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True), match=[bearer("tok-2")])
        rsps.get(f"{ORDER_URL}/{NAME}/download", body=ZIP, match=[bearer("tok-2")])
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 0, result.stderr
    assert "the access token was refused (HTTP 401); signing in again" in result.stderr


def test_second_401_in_a_row_is_an_error_with_the_grpc_code() -> None:
    # Issue 14 point 2: tok-1 worked (the cancel), so its 401 is an expiry; tok-2 is refused on its first use.
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps, "tok-1")
        rsps.post(f"{ORDER_URL}/{NAME}/cancel", json={}, match=[bearer("tok-1")])
        rsps.get(f"{ORDER_URL}/{NAME}", status=401, json={"code": 16, "message": "access token expired"})
        add_token(rsps, "tok-2")
        rsps.get(f"{ORDER_URL}/{NAME}", status=401, json={"code": 16, "message": "user locked"})
        result = cli_runner().invoke(octo.cli, ["order", "cancel", NAME])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: octoplant refused the access token it had just issued (HTTP 401): the user may lack the right to "
        f"use the Export API, or the server's sign-in is misconfigured: user locked (401, GET {ORDER_URL}/{NAME}); "
        "gRPC status UNAUTHENTICATED (16)"
    )
    assert "tok-" not in result.stderr


def test_a_token_refused_on_its_first_use_is_not_fetched_again() -> None:
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps, "tok-1")
        rsps.get(f"{ORDER_URL}/{NAME}", status=401, json={"code": 16, "message": "invalid token"})
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])  # a second sign-in would be unmatched
    assert result.exit_code == 1
    assert "octoplant refused the access token it had just issued (HTTP 401)" in result.stderr
    assert "signing in again" not in result.stderr


def test_every_expiry_of_a_token_that_worked_signs_in_again(tmp_path: Path, no_sleep: list) -> None:
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps, "tok-1")
        rsps.post(ORDER_URL, json=order("STATE_PENDING"), match=[bearer("tok-1")])
        for number in (2, 3, 4):
            rsps.get(f"{ORDER_URL}/{NAME}", status=401, json={"code": 16, "message": "access token expired"})
            add_token(rsps, f"tok-{number}")
            rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"), match=[bearer(f"tok-{number}")])
        rsps.get(f"{ORDER_URL}/{NAME}", status=401, json={"code": 16, "message": "access token expired"})
        add_token(rsps, "tok-5")
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True), match=[bearer("tok-5")])
        rsps.get(f"{ORDER_URL}/{NAME}/download", status=401, json={"code": 16, "message": "access token expired"})
        add_token(rsps, "tok-6")
        rsps.get(f"{ORDER_URL}/{NAME}/download", body=ZIP, match=[bearer("tok-6")])
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("the access token was refused (HTTP 401); signing in again") == 5


def test_token_is_masked_in_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with responses.RequestsMock() as rsps:
        add_token(rsps, "tok-secret-1")
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"))
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == ["::add-mask::tok-secret-1"]


@responses.activate(registry=registries.OrderedRegistry)
def test_order_post_is_never_sent_twice(tmp_path: Path, no_sleep: list) -> None:
    add_token(responses.mock)
    responses.post(ORDER_URL, status=503, json={"code": 14, "message": "export service busy"})
    result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 1
    assert len([c for c in responses.calls if c.request.url == ORDER_URL]) == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: export service busy (503, POST {ORDER_URL}); gRPC status UNAVAILABLE (14)"
    )
    assert not (tmp_path / "x.zip").exists()


def test_failed_order_exit_1_with_code_text(tmp_path: Path, no_sleep: list) -> None:
    error = {"code": 13, "message": "export of projectTree failed", "details": []}
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.post(ORDER_URL, json=order("STATE_PENDING"))
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_FAILED", done=True, error=error))
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == {**error, "codeText": "INTERNAL"}
    assert result.stderr.splitlines()[-1] == (
        "Error: export order ord-1 ended STATE_FAILED: INTERNAL (code 13): export of projectTree failed "
        f"({ORDER_URL}/{NAME})"
    )
    assert no_leftovers(tmp_path) == []


def test_state_unspecified_is_an_error(tmp_path: Path, no_sleep: list) -> None:
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.post(ORDER_URL, json=order("STATE_PENDING"))
        # done: the server's answer for an order it does not know (not done, it is a fresh order: issue 12 point 2)
        rsps.get(f"{ORDER_URL}/{NAME}", json={"name": NAME, "metadata": {"state": "STATE_UNSPECIFIED"}, "done": True})
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 1
    assert "ended STATE_UNSPECIFIED: the server does not know this order" in result.stderr


def test_a_fresh_order_unspecified_is_polled_until_picked_up(tmp_path: Path, no_sleep: list) -> None:
    fresh = {"name": NAME, "metadata": {"state": "STATE_UNSPECIFIED"}, "done": False, "error": None}
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.post(ORDER_URL, json=fresh)
        rsps.get(f"{ORDER_URL}/{NAME}", json=fresh)
        rsps.get(f"{ORDER_URL}/{NAME}", json=fresh)
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"))
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True))
        rsps.get(f"{ORDER_URL}/{NAME}/download", body=ZIP)
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[1:4] == [
        "export order ord-1: STATE_UNSPECIFIED (not picked up by the export service yet)",
        "export order ord-1: STATE_RUNNING, sub-processes 0 finished, 1 open",
        "export order ord-1: STATE_SUCCEEDED",
    ]


@pytest.mark.parametrize("cancel", [True, False])
def test_an_order_unspecified_past_the_pickup_timeout_is_given_up(tmp_path: Path, no_sleep: list, cancel: bool) -> None:
    fresh = {"name": NAME, "metadata": {"state": "STATE_UNSPECIFIED"}, "done": False, "error": None}
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.post(ORDER_URL, json=fresh)
        rsps.get(f"{ORDER_URL}/{NAME}", json=fresh)
        if cancel:
            rsps.post(f"{ORDER_URL}/{NAME}/cancel", json={})
            rsps.get(f"{ORDER_URL}/{NAME}", json=fresh)
        flag = "--cancel-on-timeout" if cancel else "--no-cancel-on-timeout"
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip"), "--pickup-timeout", "0", flag])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["metadata"]["state"] == "STATE_UNSPECIFIED"
    assert result.stderr.splitlines()[-1] == (
        f"Error: export order {NAME} is still STATE_UNSPECIFIED after 0 s: the export service never picked it up "
        f"({ORDER_URL}/{NAME})"
    )
    assert ("cancelling export order ord-1" in result.stderr) is cancel
    assert no_leftovers(tmp_path) == []


@pytest.mark.parametrize("cancel", [True, False])
def test_timeout_cancels_unless_told_not_to(tmp_path: Path, no_sleep: list, cancel: bool) -> None:
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.post(ORDER_URL, json=order("STATE_PENDING"))
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"))
        if cancel:
            rsps.post(f"{ORDER_URL}/{NAME}/cancel", json={}, match=[bearer()])
            cancelled = order("STATE_FAILED", done=True, error={"code": 1, "message": "cancelled"})
            rsps.get(f"{ORDER_URL}/{NAME}", json=cancelled)
        flag = "--cancel-on-timeout" if cancel else "--no-cancel-on-timeout"
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip"), "--timeout", "0", flag])
    assert result.exit_code == 3
    assert json.loads(result.stdout)["metadata"]["state"] == "STATE_RUNNING"
    cancelled_line = "cancel sent for export order ord-1; it is now STATE_FAILED: CANCELLED (code 1): cancelled"
    assert (cancelled_line in result.stderr.splitlines()) is cancel
    assert "gave up waiting for export order ord-1 after 0 s" in result.stderr
    assert no_leftovers(tmp_path) == []


def test_interrupt_while_waiting_cancels_and_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", interrupted)
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.post(ORDER_URL, json=order("STATE_PENDING"))
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"))
        rsps.post(f"{ORDER_URL}/{NAME}/cancel", json={})
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_FAILED", done=True, error={"code": 1, "message": "x"}))
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-3:] == [
        "cancelling export order ord-1",
        "cancel sent for export order ord-1; it is now STATE_FAILED: CANCELLED (code 1): x",
        "Interrupted.",
    ]


@pytest.mark.parametrize("cancel", [True, False], ids=["cancel", "no-cancel"])
def test_stop_while_ordering_waits_for_the_name_then_cancels(tmp_path: Path, cancel: bool) -> None:
    def placed(request: Any) -> Any:
        signal.raise_signal(signal.SIGTERM)  # the job is stopped while the order is on its way
        return 200, {}, json.dumps(order("STATE_PENDING"))

    flags = [] if cancel else ["--no-cancel-on-timeout"]
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.add_callback(responses.POST, ORDER_URL, callback=placed)
        if cancel:
            rsps.post(f"{ORDER_URL}/{NAME}/cancel", json={})
            rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_FAILED", done=True, error={"code": 1, "message": "x"}))
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip"), *flags])
    assert result.exit_code == 130
    lines = result.stderr.splitlines()
    assert lines[0] == "stopping once the export order is answered (signal again to stop at once)"
    assert lines[1] == "ordered export ord-1 (projectTree)"
    assert lines[-1] == "Interrupted."
    assert ("cancelling export order ord-1" in lines) is cancel
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back as it was
    assert no_leftovers(tmp_path) == []


def test_stop_while_signing_in_stops_at_once_without_ordering(tmp_path: Path) -> None:
    def signed_in(request: Any) -> Any:
        signal.raise_signal(signal.SIGTERM)
        return 200, {}, json.dumps({"access_token": "tok-1", "token_type": "Bearer"})

    with responses.RequestsMock() as rsps:  # POST /v1/order is not registered: it must not be sent
        rsps.add_callback(responses.POST, TOKEN_URL, callback=signed_in)
        result = cli_runner().invoke(octo.cli, ["export", "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 130
    assert result.stderr == "Interrupted.\n"


# -- downloads ------------------------------------------------------------------------------------


def bad_crc_zip() -> bytes:
    # A stored member with one byte of its data changed: only the CRC check can tell.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("contents.json", b"{}")
        archive.writestr("big.bin", b"A" * 5000)
    data = bytearray(buffer.getvalue())
    data[data.index(b"A" * 100) + 50] = ord("B")
    return bytes(data)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (bad_crc_zip(), "the download of export order ord-1 is damaged: member 'big.bin' fails its CRC check"),
        (b"<html>proxy error</html>", "the download of export order ord-1 is not a readable ZIP archive"),
        (ZIP[: len(ZIP) // 2], "the download of export order ord-1 is not a readable ZIP archive"),
    ],
    ids=["crc", "html", "short"],
)
def test_bad_download_leaves_nothing_at_path(tmp_path: Path, body: bytes, message: str) -> None:
    target = tmp_path / "x.zip"
    target.write_bytes(b"the previous export")  # stays untouched
    with responses.RequestsMock() as rsps:
        add_token(rsps)
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True))
        rsps.get(f"{ORDER_URL}/{NAME}/download", body=body)
        result = cli_runner().invoke(octo.cli, ["order", "download", NAME, "-o", str(target)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert target.read_bytes() == b"the previous export"
    assert no_leftovers(tmp_path) == ["x.zip"]


def test_download_of_unfinished_order_is_refused_before_downloading(tmp_path: Path) -> None:
    with responses.RequestsMock() as rsps:
        add_token(rsps)
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_RUNNING"))
        result = cli_runner().invoke(octo.cli, ["order", "download", NAME, "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 1
    assert "Error: export order ord-1 has nothing to download: STATE_RUNNING, sub-processes 0 finished, 1 open" in (
        result.stderr
    )
    assert json.loads(result.stdout)["name"] == NAME
    assert no_leftovers(tmp_path) == []


def test_download_error_names_grpc_status(tmp_path: Path) -> None:
    with responses.RequestsMock() as rsps:
        add_token(rsps)
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True))
        rsps.get(
            f"{ORDER_URL}/{NAME}/download", status=400, json={"code": 9, "message": "export expired", "details": []}
        )
        result = cli_runner().invoke(octo.cli, ["order", "download", NAME, "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (  # issue 12 point 1: a stream's error, its code named first
        f"Error: the download of export order {NAME} failed: FAILED_PRECONDITION (code 9): export expired "
        f"(400, GET {ORDER_URL}/{NAME}/download)"
    )
    assert no_leftovers(tmp_path) == []


def test_download_into_a_directory_is_exit_2(tmp_path: Path) -> None:
    with responses.RequestsMock():
        result = cli_runner().invoke(octo.cli, ["order", "download", NAME, "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a directory" in result.stderr


@pytest.mark.parametrize("command", [["export"], ["order", "download", NAME]], ids=["export", "download"])
def test_output_under_a_file_is_exit_2_before_anything_is_ordered(tmp_path: Path, command: List[str]) -> None:
    (tmp_path / "afile").write_text("not a folder")
    with responses.RequestsMock():  # no request may be sent: nothing ordered, nothing signed in
        result = cli_runner().invoke(octo.cli, [*command, "-o", str(tmp_path / "afile" / "x.zip")])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '-o' / '--output': cannot write {tmp_path / 'afile' / 'x.zip'}: "
        f"{tmp_path / 'afile'} is not a folder"
    )
    assert result.stdout == ""


def test_failed_download_removes_the_folders_it_made(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "x.zip"
    with responses.RequestsMock() as rsps:
        add_token(rsps)
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True))
        rsps.get(f"{ORDER_URL}/{NAME}/download", body=b"<html>proxy error</html>")
        result = cli_runner().invoke(octo.cli, ["order", "download", NAME, "-o", str(target)])
    assert result.exit_code == 1
    assert "is not a readable ZIP archive" in result.stderr
    assert no_leftovers(tmp_path) == []


def test_disk_error_while_saving_is_exit_1_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(self: Any, done: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(octo._Progress, "update", disk_full)
    target = tmp_path / "new" / "x.zip"
    with responses.RequestsMock() as rsps:
        add_token(rsps)
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_SUCCEEDED", done=True))
        rsps.get(f"{ORDER_URL}/{NAME}/download", body=ZIP)
        result = cli_runner().invoke(octo.cli, ["order", "download", NAME, "-o", str(target)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: could not save export order {NAME} at {target}: No space left on device"
    )
    assert no_leftovers(tmp_path) == []


@pytest.mark.parametrize("command", [["status"], ["cancel"], ["download", "-o", "x.zip"]], ids=lambda c: c[0])
def test_empty_order_name_is_exit_2_before_any_request(command: List[str]) -> None:
    with responses.RequestsMock():  # GET /v1/order/ or POST /v1/order//cancel would be another route
        result = cli_runner().invoke(octo.cli, ["order", command[0], "", *command[1:]])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Invalid value for 'NAME': must not be empty"


def test_ca_bundle_variable_naming_a_missing_file_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/no/such/ca.pem")
    with responses.RequestsMock():
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: REQUESTS_CA_BUNDLE names /no/such/ca.pem, which does not exist"


def test_ca_bundle_without_a_certificate_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    monkeypatch.setenv("OCTOPLANT_CA_BUNDLE", str(bundle))
    with responses.RequestsMock():
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(
        f"Error: --ca-bundle (OCTOPLANT_CA_BUNDLE) names {bundle}, which holds no readable CA certificate ("
    )


def test_token_unfit_for_a_header_is_refused_without_showing_it() -> None:
    with responses.RequestsMock() as rsps:
        rsps.post(TOKEN_URL, json={"access_token": "tok-hidden\nrest", "token_type": "Bearer"})
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: octoplant sent an access_token with characters a header cannot carry (not shown; POST {TOKEN_URL})\n"
    )
    assert "tok-hidden" not in result.stdout + result.stderr


def test_progress_every_tenth_or_every_16_mib(capsys: pytest.CaptureFixture) -> None:
    progress = octo._Progress("dl", 1000)
    for done in range(0, 1001, 50):
        progress.update(done)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1].split("%")[0] for line in lines] == [str(p) for p in range(10, 101, 10)]
    progress = octo._Progress("dl", None)
    for done in range(0, 50 << 20, 1 << 20):
        progress.update(done)
    assert capsys.readouterr().err.splitlines() == ["dl: 16.0 MiB so far", "dl: 32.0 MiB so far", "dl: 48.0 MiB so far"]


# -- order status / cancel ------------------------------------------------------------------------


def test_order_status_prints_order_with_code_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    failed = order("STATE_FAILED", done=True, error={"code": 7, "message": "no export permission"})
    with responses.RequestsMock() as rsps:
        add_token(rsps)
        rsps.get(f"{ORDER_URL}/{NAME}", json=failed, match=[bearer()])
        result = cli_runner().invoke(octo.cli, ["order", "status", NAME])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["error"]["codeText"] == "PERMISSION_DENIED"
    assert "\nSTATE_FAILED\n" in outputs.read_text()


def test_order_status_unknown_order() -> None:
    with responses.RequestsMock() as rsps:
        add_token(rsps)
        rsps.get(f"{ORDER_URL}/nope", status=404, json={"code": 5, "message": "order nope not found"})
        result = cli_runner().invoke(octo.cli, ["order", "status", "nope"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: export order nope not found (HTTP 404): order nope not found (404, GET {ORDER_URL}/nope); "
        "gRPC status NOT_FOUND (5)\n"
    )


def test_order_cancel_then_shows_the_state() -> None:
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        add_token(rsps)
        rsps.post(f"{ORDER_URL}/{NAME}/cancel", json={}, match=[bearer()])
        rsps.get(f"{ORDER_URL}/{NAME}", json=order("STATE_FAILED", done=True, error={"code": 1, "message": "x"}))
        result = cli_runner().invoke(octo.cli, ["order", "cancel", NAME])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["error"]["codeText"] == "CANCELLED"
    assert result.stderr == "cancel sent for export order ord-1; it is now STATE_FAILED: CANCELLED (code 1): x\n"


# -- pure helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text"),
    [(0, "OK"), (1, "CANCELLED"), (9, "FAILED_PRECONDITION"), (16, "UNAUTHENTICATED"), (17, "Unknown code 17")],
)
def test_grpc_code_text(code: int, text: str) -> None:
    assert octo.grpc_code_text(code) == text


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (order("STATE_PENDING"), ("pending", "STATE_PENDING, sub-processes 0 finished, 1 open")),
        ({"name": "x", "metadata": {"state": "STATE_RUNNING"}}, ("pending", "STATE_RUNNING")),
        (order("STATE_SUCCEEDED", done=True), ("success", "STATE_SUCCEEDED")),
        (order("STATE_SUCCEEDED", done=False), ("pending", "STATE_SUCCEEDED, sub-processes 0 finished, 1 open")),
        (order("STATE_FAILED", done=True), ("failure", "STATE_FAILED: no error details from the server")),
        (
            order("STATE_RUNNING", error={"code": 4, "message": "too slow"}),
            ("failure", "STATE_RUNNING: DEADLINE_EXCEEDED (code 4): too slow"),
        ),
        ({"name": "x"}, ("pending", "STATE_UNSPECIFIED (not picked up by the export service yet)")),
        ({"name": "x", "done": True}, ("failure", "STATE_UNSPECIFIED: the server does not know this order")),
        (
            order("STATE_RUNNING", error={"code": 0, "message": ""}),
            ("pending", "STATE_RUNNING, sub-processes 0 finished, 1 open"),
        ),
    ],
)
def test_order_outcome(body: Dict, outcome: tuple) -> None:
    assert octo.order_outcome(body) == outcome


def test_sub_process_lists_are_counted() -> None:
    body = {"metadata": {"state": "STATE_RUNNING", "finishedSubProcesses": ["a", "b"], "openSubProcesses": ["c"]}}
    assert octo.order_outcome(body) == ("pending", "STATE_RUNNING, sub-processes 2 finished, 1 open")


# -- the options table against the vendor's swagger -------------------------------------------------

CONTRACT = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))  # the copy the emulator ships


def _swagger_type(prop: Dict[str, Any]) -> Any:
    definitions = CONTRACT["definitions"]
    if "allOf" in prop:
        target = definitions[prop["allOf"][0]["$ref"].split("/")[-1]]
        if "enum" in target:
            return tuple(target["enum"])
        return {"auvesy.versiondog.common.v1.Uuid": "Uuid", "octoplant.exportapi.v1.TimeFilter": "TimeFilter"}[
            prop["allOf"][0]["$ref"].split("/")[-1]
        ]
    return {("boolean", None): "boolean", ("string", None): "string", ("integer", "int32"): "int32"}[
        (prop["type"], prop.get("format"))
    ]


def test_the_option_table_is_the_swaggers() -> None:
    definitions = CONTRACT["definitions"]
    expected = {}
    for kind, ref in definitions["octoplant.exportapi.v1.ExportContents"]["properties"].items():
        definition = definitions[ref["allOf"][0]["$ref"].split("/")[-1]]
        expected[kind] = {name: _swagger_type(prop) for name, prop in definition["properties"].items()}
    assert octo.KIND_OPTIONS == expected
    assert list(octo.EXPORT_KINDS) == list(expected)
    time_filter = definitions["octoplant.exportapi.v1.TimeFilter"]["properties"]
    assert octo.TIME_FILTER_FIELDS == tuple(time_filter)
    assert all(p["format"] == "date-time" for p in time_filter.values())


@pytest.mark.parametrize(
    ("args", "contents"),
    [
        (["--option", "projectTree.exportType=json"], {"projectTree": {"exportType": "EXPORT_TYPE_JSON"}}),
        (["--option", "jobresults.sorting=job_id"], {"jobResults": {"sorting": "SORT_BY_JOB_ID"}}),
        (["--option", "eventLog.maxLines=-1"], {"eventLog": {"maxLines": -1}}),
        (["--option", "eventLog.includeRawData=TRUE"], {"eventLog": {"includeRawData": True}}),
        (["--option", "jobList.dir=/Plant/Line 1"], {"jobList": {"dir": "/Plant/Line 1"}}),
        (
            ["--contents-json", '{"componentLog": {"componentId": {"data": "0F8FAD5B-D9CB-469F-A165-70867728950E"}}}'],
            {"componentLog": {"componentId": {"data": "0F8FAD5B-D9CB-469F-A165-70867728950E"}}},
        ),
        (
            [
                "--option",
                "adminLog.timeStampFilter.filterFrom=2023-10-01T00:00:00Z",
                "--option",
                "adminLog.timeStampFilter.filterTo=2023-10-02T00:00:00.123+02:00",
            ],
            {
                "adminLog": {
                    "timeStampFilter": {
                        "filterFrom": "2023-10-01T00:00:00Z",
                        "filterTo": "2023-10-02T00:00:00.123+02:00",
                    }
                }
            },
        ),
        (["--raw-contents", '{"newKind": {"x": 1}}'], {"newKind": {"x": 1}}),
        (
            [
                "--contents-json",
                '{"jobList": {"flatExport": true}}',
                "--raw-contents",
                '{"jobList": {"flatExport": 1}}',
            ],
            {"jobList": {"flatExport": 1}},
        ),
    ],
    ids=["enum-short", "kind-any-case", "int32", "bool", "string", "uuid-object", "time-filter", "raw", "raw-wins"],
)
def test_build_contents(args: List[str], contents: Dict[str, Any]) -> None:
    assert octo.build_contents(*_parsed(args)) == contents


def _parsed(args: List[str]) -> Tuple[Any, ...]:
    specs, contents_json, raw = [], None, None
    for flag, value in zip(args[::2], args[1::2]):
        if flag == "--option":
            specs.append(value)
        elif flag == "--contents-json":
            contents_json = json.loads(value)
        else:
            raw = json.loads(value)
    return (), contents_json, tuple(specs), raw


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--option", "projectTree"], "Invalid value for '--option': expected KIND.NAME=VALUE"),
        (["--option", "projectTree.exportType"], "Invalid value for '--option': expected KIND.NAME=VALUE"),
        (["--option", "plant.x=1"], "Invalid value for '--option': unknown export kind 'plant'; known kinds: "),
        (["--option", "eventLog.lastXDays=2147483648"], "eventLog.lastXDays must be a whole number (int32), got "),
        (["--option", "eventLog.lastXDays=1.5"], "eventLog.lastXDays must be a whole number (int32), got '1.5'"),
        (["--option", "eventLog.flatExport=yes"], "eventLog.flatExport must be true or false, got 'yes'"),
        (["--option", "eventLog.flatExport.x=true"], "eventLog.flatExport has no fields"),
        (["--option", "eventLog.timeStampFilter=2023"], "give eventLog.timeStampFilter as eventLog.timeStampFilter"),
        (
            ["--contents-json", '{"eventLog": {"timeStampFilter": {"since": "2023-10-01T00:00:00Z"}}}'],
            "eventLog.timeStampFilter has no field 'since'; its fields: filterFrom, filterTo",
        ),
        (
            ["--contents-json", '{"jobList": {"dir": 7}}'],
            "Invalid value for '--contents-json': jobList.dir must be a string",
        ),
        (["--contents-json", '{"usageInformation": {"flatExport": true}}'], "its options: includeClientTrackingInfo"),
        (["--raw-contents", '{"newKind": 1}'], "Invalid value for '--raw-contents': the options of newKind must be"),
    ],
)
def test_bad_options_are_exit_2_before_any_request(tmp_path: Path, args: List[str], message: str) -> None:
    with responses.RequestsMock():  # nothing may be sent
        result = cli_runner().invoke(octo.cli, ["export", *args, "-o", str(tmp_path / "x.zip")])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
