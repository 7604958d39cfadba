"""scripts/octoplant.py run as a CI step would, against the fake octoplant over real sockets (HTTP and HTTPS)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from cirelay.emulators.octoplant import CONTRACT_CHECKED, PASSWORD, OctoplantFake, env_for, make_server
from tests.conftest import SCRIPTS, clean_env, run_script


@pytest.fixture
def fake() -> Iterator[OctoplantFake]:
    assert CONTRACT_CHECKED, "install the test dependencies: the fake checks orders with jsonschema"
    server = make_server()
    server.steps = 1  # done at the first poll: no waiting unless a test asks for it
    server.start()
    yield server
    server.stop()
    assert server.violations == [], "an order the contract does not allow was sent"


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("octoplant-tls")


@pytest.fixture
def tls_fake(tls_dir: Path) -> Iterator[OctoplantFake]:
    server = make_server(tls_dir=str(tls_dir))
    server.steps = 1
    server.start()
    yield server
    server.stop()
    assert server.violations == [], "an order the contract does not allow was sent"


def env(server: OctoplantFake, **extra: str) -> Dict[str, str]:
    values = env_for(server.url)
    values.update(extra)
    return values


def files_in(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_export_to_file_over_https_with_the_ca_bundle(tls_fake: OctoplantFake, tmp_path: Path) -> None:
    tls_fake.steps = 2
    target = tmp_path / "artifacts" / "plant.zip"
    assert tls_fake.ca_bundle
    done = run_script(
        "octoplant",
        "export",
        "--contents",
        "projectTree",
        "--contents",
        "jobList",
        "-o",
        str(target),
        env=env(tls_fake, OCTOPLANT_CA_BUNDLE=tls_fake.ca_bundle),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "STATE_SUCCEEDED"
    assert result["path"] == str(target)
    assert result["members"] == ["contents.json", "projectTree.json", "jobList.json"]
    assert result["bytes"] == target.stat().st_size
    with zipfile.ZipFile(target) as archive:
        contents = json.loads(archive.read("contents.json"))
    assert contents["order"] == result["name"]
    assert [e["kind"] for e in contents["exports"]] == ["projectTree", "jobList"]
    assert files_in(target.parent) == ["plant.zip"]
    assert len(tls_fake.seen("POST", "/v1/order")) == 1
    assert f"export order {result['name']}: STATE_RUNNING, sub-processes 0 finished, 2 open" in done.stderr


def test_requests_ca_bundle_works_too(tls_fake: OctoplantFake, tmp_path: Path) -> None:
    assert tls_fake.ca_bundle
    done = run_script(
        "octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(tls_fake, REQUESTS_CA_BUNDLE=tls_fake.ca_bundle)
    )
    assert done.returncode == 0, done.stderr


def test_https_without_the_ca_bundle_fails_before_ordering(tls_fake: OctoplantFake, tmp_path: Path) -> None:
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(tls_fake))
    assert done.returncode == 1
    assert done.stderr.startswith(
        "Error: the server's TLS certificate could not be verified: set OCTOPLANT_CA_BUNDLE to the CA certificate"
    )
    assert tls_fake.seen("POST", "/v1/order") == []
    assert files_in(tmp_path) == []


def test_insecure_warns_once_and_urllib3_stays_quiet(tls_fake: OctoplantFake, tmp_path: Path) -> None:
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), "--insecure", env=env(tls_fake))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == (
        f"warning: --insecure: TLS certificates are NOT verified for {tls_fake.url}; credentials may be exposed"
    )
    assert "InsecureRequestWarning" not in done.stderr
    assert sum("--insecure" in line for line in lines) == 1


def test_failed_order_exit_1_and_nothing_saved(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.fail_orders = True
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 1
    order = json.loads(done.stdout)
    assert order["error"]["codeText"] == "INTERNAL"
    assert done.stderr.splitlines()[-1].startswith(
        f"Error: export order {order['name']} ended STATE_FAILED: INTERNAL (code 13): "
        "export of projectTree failed: database connection lost"
    )
    assert fake.seen("GET", r"/v1/order/.*/download") == []
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("switches", "message"),
    [
        ({"truncate_download": True, "download_length": True}, "broke off after"),
        ({"truncate_download": True, "chunked_download": True}, "is not a readable ZIP archive"),
        ({"corrupt_download": True}, "is damaged: member"),
    ],
    ids=["truncated", "truncated-chunked", "corrupt"],
)
def test_bad_download_leaves_nothing_at_path(
    fake: OctoplantFake, tmp_path: Path, switches: Dict[str, bool], message: str
) -> None:
    for name, value in switches.items():
        setattr(fake, name, value)
    fake.download_size = 3 << 20
    target = tmp_path / "x.zip"
    done = run_script("octoplant", "export", "-o", str(target), env=env(fake))
    assert done.returncode == 1
    assert message in done.stderr
    assert "retry with `order download" in done.stderr
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_waiting_cancels_the_order_and_exits_130(
    fake: OctoplantFake, tmp_path: Path, signum: signal.Signals
) -> None:
    fake.never_finish = True
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "octoplant.py"), "export", "-o", str(tmp_path / "x.zip")],
        env=clean_env(env(fake)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not fake.seen("GET", r"/v1/order/[^/]+") and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert fake.seen("GET", r"/v1/order/[^/]+"), "the script never polled"
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    (name,) = fake.orders
    assert fake.cancelled == [name]
    assert fake.orders[name]["order"]["error"]["code"] == 1
    assert stderr.splitlines()[-3:] == [
        f"cancelling export order {name}",
        f"cancel sent for export order {name}; it is now STATE_FAILED: CANCELLED (code 1): the export was cancelled",
        "Interrupted.",
    ]
    # A stopped wait still gives its account: the order as last seen, as JSON.
    assert json.loads(stdout)["name"] == name
    assert files_in(tmp_path) == []


def test_sigterm_while_ordering_still_cancels_the_order(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.never_finish = True
    fake.latency = 0.8  # every answer: time to stop the job while POST /v1/order is on its way
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "octoplant.py"), "export", "-o", str(tmp_path / "x.zip")],
        env=clean_env(env(fake)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not fake.seen("POST", r"/v1/order$") and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert fake.seen("POST", r"/v1/order$"), "the script never ordered"
        assert not fake.orders, "the order was answered before the signal: the test did not stop it in time"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    (name,) = fake.orders
    assert fake.cancelled == [name]
    assert not fake.seen("GET", r"/v1/order/[^/]+/download")
    assert json.loads(stdout)["name"] == name  # the order it left behind, as every stopped wait says
    assert files_in(tmp_path) == []


def test_sigterm_during_the_download_removes_the_partial_file(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.download_size = 64 << 20
    fake.download_rate = 8e6  # about 8 s for the whole download: plenty of time to stop it halfway
    target = tmp_path / "x.zip"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "octoplant.py"), "export", "-o", str(target)],
        env=clean_env(env(fake)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            parts = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
            if parts and parts[0].stat().st_size > 0:
                break
            time.sleep(0.02)
        assert parts, "no partial download appeared"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.splitlines()[-1] == "Interrupted."
    assert stdout == ""
    assert fake.cancelled == []  # the order had finished: nothing to cancel
    assert files_in(tmp_path) == []


def test_timeout_cancels_the_order_and_exits_3(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.never_finish = True
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), "--timeout", "0", env=env(fake))
    assert done.returncode == 3
    name = json.loads(done.stdout)["name"]
    assert fake.cancelled == [name]
    assert "gave up waiting for export order" in done.stderr


def test_token_expiry_mid_wait_signs_in_again(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.steps = 2
    fake.token_uses = 2  # POST /v1/order and one poll, then 401
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), "--poll-max", "1", env=env(fake))
    assert done.returncode == 0, done.stderr
    assert len(fake.seen("POST", "/v1/oauth2/token")) >= 2
    assert len(fake.seen("POST", "/v1/order")) == 1
    assert "the access token was refused (HTTP 401); signing in again" in done.stderr


def test_large_download_streams_with_progress(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.download_size = 40 << 20
    fake.download_length = True  # a proxy that buffers and sends the length: the real server streams chunked
    done = run_script("octoplant", "export", "-o", str(tmp_path / "big.zip"), env=env(fake))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["bytes"] == 40 << 20 == (tmp_path / "big.zip").stat().st_size
    percents = [line.split(": ")[1].split("%")[0] for line in done.stderr.splitlines() if "%" in line]
    assert percents == [str(p) for p in range(10, 101, 10)]


def test_download_of_unknown_size_reports_every_16_mib(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.download_size = 40 << 20
    fake.chunked_download = True
    done = run_script("octoplant", "export", "-o", str(tmp_path / "big.zip"), env=env(fake))
    assert done.returncode == 0, done.stderr
    so_far = [line.split(": ")[1] for line in done.stderr.splitlines() if "so far" in line]
    assert so_far == ["16.0 MiB so far", "32.0 MiB so far"]


def test_order_commands_status_download_cancel(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.steps = 2
    started = run_script(
        "octoplant", "export", "-o", str(tmp_path / "x.zip"), "--timeout", "0", "--no-cancel-on-timeout", env=env(fake)
    )
    assert started.returncode == 3
    name = json.loads(started.stdout)["name"]
    assert fake.cancelled == []
    status = run_script("octoplant", "order", "status", name, env=env(fake))
    assert status.returncode == 0
    assert json.loads(status.stdout)["metadata"]["state"] == "STATE_SUCCEEDED"
    got = run_script("octoplant", "order", "download", name, "-o", str(tmp_path / "later.zip"), env=env(fake))
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["members"] == ["contents.json", "projectTree.json"]
    missing = run_script("octoplant", "order", "cancel", "nope", env=env(fake))
    assert missing.returncode == 1
    assert "export order nope not found (HTTP 404)" in missing.stderr
    assert "gRPC status NOT_FOUND (5)" in missing.stderr


def test_secrets_never_in_output(fake: OctoplantFake, tmp_path: Path) -> None:
    secret = "client-secret-9f8e7d"
    fake.client_secret = secret
    fake.steps = 2
    fake.token_uses = 2
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    runs = [
        run_script(
            "octoplant",
            "export",
            "-o",
            str(tmp_path / "x.zip"),
            "--poll-max",
            "1",
            env=env(fake, OCTOPLANT_CLIENT_SECRET=secret, **github),
        ),
        run_script("octoplant", "order", "status", "nope", env=env(fake, OCTOPLANT_CLIENT_SECRET=secret)),
        run_script("octoplant", "order", "status", "x", env=env(fake, OCTOPLANT_CLIENT_SECRET="wrong-" + secret)),
        run_script(
            "octoplant", "order", "status", "x", env=env(fake, OCTOPLANT_CLIENT_SECRET=secret, OCTOPLANT_PASSWORD="bad")
        ),
    ]
    assert [r.returncode for r in runs] == [0, 1, 1, 1]
    tokens = list(fake.tokens)
    assert len(tokens) >= 3  # the export signed in again after its token expired
    written = (tmp_path / "output").read_text() + (tmp_path / "summary").read_text()
    for run in runs:
        masked = [line for line in run.stderr.splitlines() if line.startswith("::add-mask::")]
        shown = "\n".join(line for line in (run.stdout + run.stderr).splitlines() if line not in masked)
        for value in [PASSWORD, secret, *tokens]:
            assert value not in shown
            assert value not in written
    masked_first = [line for line in runs[0].stderr.splitlines() if line.startswith("::add-mask::")]
    assert masked_first == [f"::add-mask::{t}" for t in tokens[:2]]


def test_order_is_sent_once_when_the_answer_is_lost(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.drop_next(1, match=r"^POST /v1/order$")
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 1
    assert "could not complete POST" in done.stderr
    assert len(fake.seen("POST", "/v1/order")) == 1
    assert files_in(tmp_path) == []


def test_polls_and_download_ride_out_a_503_burst(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.fail_next(2, 503, {"code": 14, "message": "busy"}, match=r"^GET /v1/order/[^/]+$")
    fake.fail_next(1, 429, {"code": 8, "message": "slow down"}, {"Retry-After": "0"}, match=r"/download$")
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 0, done.stderr
    assert len(fake.seen("GET", r"/v1/order/[^/]+/download")) == 2
    assert files_in(tmp_path) == ["x.zip"]


# -- issue 12: octoplant as its published API describes it -------------------------------------------

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def order_bodies(server: OctoplantFake) -> List[Dict]:
    return [json.loads(r.body) for r in server.seen("POST", "/v1/order")]


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ({"code": 9, "message": "export file was removed"}, "FAILED_PRECONDITION (code 9): export file was removed"),
        ({"code": 7, "message": "no export right", "bare": True}, "PERMISSION_DENIED (code 7): no export right"),
    ],
    ids=["wrapped", "bare"],
)
def test_stream_error_before_the_first_byte_names_the_grpc_code(
    fake: OctoplantFake, tmp_path: Path, error: Dict, shown: str
) -> None:
    fake.download_error = error
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith("Error: ")
    assert shown in last
    assert "/download" in last
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("after", [5000, 10 << 20], ids=["mid-stream", "after-the-whole-zip"])
def test_stream_error_after_bytes_is_the_servers_message_not_a_bad_zip(
    fake: OctoplantFake, tmp_path: Path, after: int
) -> None:
    fake.download_size = 3 << 20
    fake.download_error = {"code": 15, "message": "read error on export file", "after": after}
    target = tmp_path / "out" / "x.zip"
    done = run_script("octoplant", "export", "-o", str(target), env=env(fake))
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert "failed on the server after" in last
    assert "DATA_LOSS (code 15): read error on export file" in last
    assert "not a readable ZIP" not in done.stderr
    assert files_in(tmp_path) == []  # nor the folder it made
    assert done.stdout == ""


def test_a_fresh_order_that_reads_unspecified_is_waited_for(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.unspecified_polls = 2
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), "--poll-max", "1", env=env(fake))
    assert done.returncode == 0, done.stderr
    name = json.loads(done.stdout)["name"]
    assert f"export order {name}: STATE_UNSPECIFIED (not picked up by the export service yet)" in done.stderr
    assert len(fake.seen("GET", rf"/v1/order/{name}")) == 3
    assert files_in(tmp_path) == ["x.zip"]


def test_an_order_never_picked_up_is_given_up_past_the_bound(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.never_picked_up = True
    done = run_script(
        "octoplant",
        "export",
        "-o",
        str(tmp_path / "x.zip"),
        "--poll-max",
        "1",
        "--pickup-timeout",
        "2",
        env=env(fake),
    )
    assert done.returncode == 1, done.stderr
    (name,) = fake.orders
    assert json.loads(done.stdout)["name"] == name
    assert (
        f"Error: export order {name} is still STATE_UNSPECIFIED after 2 s: the export service never picked it up"
        in done.stderr
    )
    assert len(fake.seen("GET", rf"/v1/order/{name}")) >= 2
    assert fake.cancelled == [name]
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--contents-json", '{"projectTree": {"colour": "blue"}}'],
            "projectTree has no option 'colour'; its options: exportType, flatExport, dir, componentId, "
            "versionInformation, includeMasterData, enableNodeTree",
        ),
        (
            ["--option", "projectTree.exportType=EXPORT_TYPE_CSV"],
            "projectTree.exportType must be one of EXPORT_TYPE_UNSPECIFIED, EXPORT_TYPE_XML, EXPORT_TYPE_JSON, "
            "got 'EXPORT_TYPE_CSV'",
        ),
        (
            ["--contents-json", '{"eventLog": {"timeStampFilter": {"filterFrom": "2025-10-01"}}}'],
            "eventLog.timeStampFilter.filterFrom must be an RFC 3339 time with a zone, e.g. 2023-10-01T00:00:00Z",
        ),
        (["--option", "componentLog.componentId=42"], "componentLog.componentId must be a component id"),
    ],
    ids=["unknown-option", "wrong-enum", "date-only", "not-a-uuid"],
)
def test_options_are_checked_against_the_contract_before_ordering(
    fake: OctoplantFake, tmp_path: Path, args: List[str], message: str
) -> None:
    done = run_script("octoplant", "export", *args, "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 2
    assert message in done.stderr
    assert fake.requests == []  # not even signed in
    assert files_in(tmp_path) == []


def test_options_reach_the_server_in_its_shapes(fake: OctoplantFake, tmp_path: Path) -> None:
    done = run_script(
        "octoplant",
        "export",
        "--contents-json",
        json.dumps({"componentLog": {"componentId": UUID, "lastXDays": 7}}),
        "--option",
        "projectTree.exportType=json",
        "--option",
        "eventLog.timeStampFilter.filterFrom=2023-10-01T00:00:00Z",
        "--option",
        "eventLog.flatExport=true",
        "-o",
        str(tmp_path / "x.zip"),
        env=env(fake),
    )
    assert done.returncode == 0, done.stderr
    assert order_bodies(fake) == [
        {
            "exportContents": {
                "componentLog": {"componentId": {"data": UUID}, "lastXDays": 7},
                "projectTree": {"exportType": "EXPORT_TYPE_JSON"},
                "eventLog": {"timeStampFilter": {"filterFrom": "2023-10-01T00:00:00Z"}, "flatExport": True},
            }
        }
    ]
    assert "warning" not in done.stderr


def test_raw_contents_pass_through_and_a_dropped_kind_is_a_warning(fake: OctoplantFake, tmp_path: Path) -> None:
    done = run_script(
        "octoplant",
        "export",
        "--contents",
        "jobList",
        "--raw-contents",
        '{"plantHistory": {"days": 3}, "jobList": {"newFilter": "x"}}',
        "-o",
        str(tmp_path / "x.zip"),
        env=env(fake),
    )
    assert done.returncode == 0, done.stderr
    assert order_bodies(fake) == [{"exportContents": {"jobList": {"newFilter": "x"}, "plantHistory": {"days": 3}}}]
    assert (
        "warning: the export has no plantHistory: contents.json does not list it "
        "(the server leaves out kinds it does not know)"
    ) in done.stderr.splitlines()
    assert "warning: the export has no jobList" not in done.stderr
    assert json.loads(done.stdout)["members"] == ["contents.json", "jobList.json"]


def test_sign_in_refused_is_said_once_without_the_user_or_password(fake: OctoplantFake, tmp_path: Path) -> None:
    done = run_script(
        "octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake, OCTOPLANT_PASSWORD="wrong-pw-5e1f")
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: octoplant refused the user name or password (HTTP 401)")
    assert len(fake.seen("POST", "/v1/oauth2/token")) == 1
    assert "wrong-pw-5e1f" not in done.stdout + done.stderr
    assert "versiondog" not in done.stdout + done.stderr
    assert fake.orders == {}


@pytest.mark.parametrize("status", [400, 500], ids=["400", "500"])
def test_sign_in_is_not_retried_on_other_errors(fake: OctoplantFake, tmp_path: Path, status: int) -> None:
    fake.fail_next(3, status, {"code": 3 if status == 400 else 13, "message": "no"}, match=r"^POST /v1/oauth2/token$")
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 1
    assert len(fake.seen("POST", "/v1/oauth2/token")) == 1


def test_sign_in_rides_out_a_dropped_connection_a_503_and_a_429(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.drop_next(1, match=r"^POST /v1/oauth2/token$")
    fake.fail_next(1, 503, {"code": 14, "message": "starting"}, match=r"^POST /v1/oauth2/token$")
    fake.fail_next(1, 429, {"code": 8, "message": "slow down"}, {"Retry-After": "0"}, match=r"^POST /v1/oauth2/token$")
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 0, done.stderr
    assert len(fake.seen("POST", "/v1/oauth2/token")) == 4


def test_sign_in_gives_up_after_its_short_budget(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.fail_next(10, 503, {"code": 14, "message": "down for maintenance"}, match=r"^POST /v1/oauth2/token$")
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 1
    assert "down for maintenance" in done.stderr
    assert len(fake.seen("POST", "/v1/oauth2/token")) == 4  # the first try and three more
    assert fake.orders == {}


# -- issue 14, point 2: tokens that expire again and again ----------------------------------------------


def test_tokens_expiring_again_and_again_are_renewed_each_time(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.steps = 6
    fake.token_uses = 2  # every token: two requests, then 401
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), "--poll-max", "1", env=env(fake))
    assert done.returncode == 0, done.stderr
    renewals = done.stderr.count("the access token was refused (HTTP 401); signing in again")
    assert renewals >= 3
    assert len(fake.seen("POST", "/v1/oauth2/token")) == renewals + 1
    assert len(fake.seen("POST", "/v1/order")) == 1
    assert files_in(tmp_path) == ["x.zip"]


def test_a_token_expiring_at_the_download_is_renewed(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.token_uses = 2  # the order and the poll; the download gets 401
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 0, done.stderr
    assert len(fake.seen("GET", r"/v1/order/[^/]+/download")) == 2
    assert len(fake.seen("POST", "/v1/oauth2/token")) == 2


def test_a_token_refused_on_first_use_is_a_credentials_error(fake: OctoplantFake, tmp_path: Path) -> None:
    fake.token_uses = 0
    done = run_script("octoplant", "export", "-o", str(tmp_path / "x.zip"), env=env(fake))
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(
        "Error: octoplant refused the access token it had just issued (HTTP 401)"
    )
    assert len(fake.seen("POST", "/v1/oauth2/token")) == 1
    assert fake.orders == {}
    status = run_script("octoplant", "order", "status", "some-order", env=env(fake))
    assert status.returncode == 1
    assert len(fake.seen("POST", "/v1/oauth2/token")) == 2
    assert len(fake.seen("GET", "/v1/order/some-order")) == 1


def test_github_summary_gives_file_size_digest_and_members(fake: OctoplantFake, tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    target = tmp_path / "plant.zip"
    summary = tmp_path / "summary.md"
    done = run_script(
        "octoplant", "export", "--contents", "projectTree", "--contents", "jobList", "-o", str(target),
        env=env(fake, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    html = MarkdownIt("commonmark").enable("table").render(summary.read_text(encoding="utf-8"))
    assert f"<h3>✅ octoplant export {result['name']}: plant.zip</h3>" in html
    assert f"<li><strong>file</strong>: {target}</li>" in html
    assert f"<li><strong>sha256</strong>: {result['sha256']}</li>" in html
    assert f"({result['bytes']:,} bytes)</li>" in html
    assert "<li><strong>members</strong>: 3</li>" in html
    for member in ("contents.json", "projectTree.json", "jobList.json"):
        assert f"<td>{member}</td>" in html
