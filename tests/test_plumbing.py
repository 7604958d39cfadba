"""The shared core (src/cirelay/: errors, http, output, waiting, cli) doing what the README promises.

Tested through a built script, the file users run; tests/test_bundle.py checks the build itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pytest
import requests
import responses
from responses import matchers, registries

from cirelay.emulators.base import FakeServer, json_reply
from tests.conftest import SCRIPTS, cli_runner, github_outputs, load_script

SCRIPT_FILES = sorted(p for p in SCRIPTS.glob("*.py") if p.name != "__init__.py")

plumb = load_script("port")
waiter = load_script("zadig")  # the waiter is inlined only where a platform waits (Port does not)


@pytest.mark.parametrize("path", SCRIPT_FILES, ids=lambda p: p.name)
def test_script_imports_only_stdlib_requests_and_click(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"requests", "click", "urllib3", "__future__"}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(("import ", "from ")):
            top = line.split()[1].split(".")[0]
            assert top in allowed, f"{path.name}: {line}"


# -- session: retries, timeouts ---------------------------------------------------------------


@responses.activate(registry=registries.OrderedRegistry)
def test_session_retries_429_and_5xx_then_succeeds(no_sleep: list) -> None:
    url = "https://api.example.test/thing"
    responses.get(url, status=429, headers={"Retry-After": "7"}, json={"message": "slow down"})
    responses.get(url, status=503)
    responses.get(url, status=502)
    responses.get(url, status=500)
    responses.get(url, json={"ok": True})
    assert plumb.api_request(plumb.make_session(), "GET", url) == {"ok": True}
    assert len(responses.calls) == 5


def test_retry_after_honoured_and_capped_over_real_http(no_sleep: list) -> None:
    # responses does not sleep between retries, so the waits are checked against a real socket.
    with FakeServer() as fake:
        fake.route("GET", "/thing")(lambda req: json_reply(200, [1]))
        fake.fail_next(1, 429, {"message": "slow"}, {"Retry-After": "7"})
        fake.fail_next(1, 429, {"message": "slow"}, {"Retry-After": "3600"})
        fake.fail_next(1, 503, {"message": "busy"})
        assert plumb.api_request(plumb.make_session(), "GET", f"{fake.url}/thing") == [1]
    assert len(fake.requests) == 4
    assert no_sleep == [7, 120, 2.0]  # Retry-After, capped Retry-After, then backoff 0.5 * 2**2


@responses.activate(registry=registries.OrderedRegistry)
def test_five_attempts_then_the_apis_message(no_sleep: list) -> None:
    url = "https://api.example.test/thing"
    for _ in range(5):
        responses.get(url, status=503, json={"message": "maintenance window"})
    with pytest.raises(plumb.CirelayError) as err:
        plumb.api_request(plumb.make_session(), "GET", url)
    assert len(responses.calls) == 5
    assert err.value.status == 503
    assert err.value.message == f"maintenance window (503, GET {url})"


@responses.activate(registry=registries.OrderedRegistry)
def test_unsafe_post_is_sent_once_even_on_503(no_sleep: list) -> None:
    url = "https://api.example.test/runs"
    responses.post(url, status=503, json={"message": "busy"})
    with pytest.raises(plumb.CirelayError, match="busy"):
        plumb.api_request(plumb.make_session(retry_unsafe=False), "POST", url, json={})
    assert len(responses.calls) == 1


@responses.activate(registry=registries.OrderedRegistry)
def test_idempotent_post_is_retried(no_sleep: list) -> None:
    url = "https://api.example.test/upsert"
    responses.post(url, status=500)
    responses.post(url, json={"ok": True}, match=[matchers.json_params_matcher({"a": 1})])
    assert plumb.api_request(plumb.make_session(), "POST", url, json={"a": 1}) == {"ok": True}


@responses.activate
def test_known_status_sentence_comes_first_then_api_message() -> None:
    url = "https://api.example.test/x"
    responses.get(url, status=403, json={"error": "forbidden", "message": "no access to blueprint"})
    with pytest.raises(plumb.CirelayError) as err:
        plumb.api_request(plumb.make_session(), "GET", url)
    assert err.value.message == (
        "permission denied (HTTP 403): the credentials lack access to this resource: "
        f"no access to blueprint (403, GET {url})"
    )


@responses.activate
def test_per_call_sentence_overrides_default() -> None:
    url = "https://api.example.test/x"
    responses.get(url, status=404, body=b"")
    with pytest.raises(plumb.CirelayError) as err:
        plumb.api_request(plumb.make_session(), "GET", url, messages={404: "entity e not found in blueprint b"})
    assert err.value.message == f"entity e not found in blueprint b (404, GET {url})"


@responses.activate
def test_zadig_style_error_shows_message_and_description() -> None:
    url = "https://zadig.test/api"
    responses.post(
        url, status=400, json={"type": "error", "code": 6164, "message": "重试失败", "description": "no task"}
    )
    with pytest.raises(plumb.CirelayError) as err:
        plumb.api_request(plumb.make_session(), "POST", url)
    assert err.value.message == f"重试失败: no task (400, POST {url})"


@responses.activate
def test_non_json_body_is_reported_with_its_start() -> None:
    url = "https://api.example.test/x"
    responses.get(url, body="<html>gateway</html>", status=200)
    with pytest.raises(plumb.CirelayError) as err:
        plumb.api_request(plumb.make_session(), "GET", url)
    assert err.value.message == f"expected JSON from GET {url}, got 200 '<html>gateway</html>'"


def test_connection_refused_is_a_cirelay_error(no_sleep: list) -> None:
    with pytest.raises(plumb.CirelayError, match=r"could not complete GET http://127\.0\.0\.1:9/"):
        plumb.api_request(plumb.make_session(), "GET", "http://127.0.0.1:9/")


def test_user_agent_and_default_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    with responses.RequestsMock() as rsps:
        original = requests.adapters.HTTPAdapter.send  # responses' own send, while it is active

        def spy(self, request, **kwargs):  # type: ignore[no-untyped-def]
            seen["timeout"] = kwargs.get("timeout")
            return original(self, request, **kwargs)

        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", spy)
        rsps.get("https://api.example.test/", json={}, match=[matchers.header_matcher({"User-Agent": "cirelay/0.1.0"})])
        plumb.api_request(plumb.make_session(), "GET", "https://api.example.test/")
        # Undo the spy before responses stops: undone later, it would put responses' send back for good
        # and every later test's real HTTP would meet "Connection refused by Responses".
        monkeypatch.undo()
    assert seen["timeout"] == (10.0, 60.0)


@pytest.mark.parametrize(("raw", "expected"), [("30", (10.0, 30.0)), ("5", (5.0, 5.0)), ("3,90", (3.0, 90.0))])
def test_cirelay_timeout_env(monkeypatch: pytest.MonkeyPatch, raw: str, expected: tuple) -> None:
    monkeypatch.setenv("CIRELAY_TIMEOUT", raw)
    assert plumb.make_session().timeout == expected


def test_bad_cirelay_timeout_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRELAY_TIMEOUT", "soon")
    # The session factory knows no click (library use): it raises InputError, exit code 2 ...
    with pytest.raises(plumb.InputError, match="CIRELAY_TIMEOUT") as raised:
        plumb.make_session()
    assert raised.value.exit_code == 2
    # ... which the command line shows as click's own usage error, with the command's usage line.
    monkeypatch.setenv("PORT_CLIENT_ID", "id")
    monkeypatch.setenv("PORT_CLIENT_SECRET", "secret")
    result = cli_runner().invoke(plumb.cli, ["entity", "get", "-b", "svc", "-i", "x"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "Usage: cli entity get [OPTIONS]"
    assert result.stderr.splitlines()[-1] == (
        "Error: CIRELAY_TIMEOUT must be seconds or 'connect,read' seconds, got 'soon'"
    )
    assert result.stdout == ""


# -- JSON arguments -----------------------------------------------------------------------------


@click.command()
@click.option("--properties", type=plumb.JsonArg(dict))
def echo_json(properties: dict) -> None:
    click.echo(json.dumps(properties, sort_keys=True))


def test_json_inline_file_and_stdin(tmp_path: Path) -> None:
    runner = cli_runner()
    assert runner.invoke(echo_json, ["--properties", '{"a": 1}']).output == '{"a": 1}\n'
    (tmp_path / "p.json").write_text('{"b": [1, 2]}')
    assert runner.invoke(echo_json, ["--properties", f"@{tmp_path / 'p.json'}"]).output == '{"b": [1, 2]}\n'
    assert runner.invoke(echo_json, ["--properties", "-"], input='{"c": null}').output == '{"c": null}\n'


def test_bad_json_names_option_and_position() -> None:
    result = cli_runner().invoke(echo_json, ["--properties", '{"a": 1,}'])
    assert result.exit_code == 2
    assert "Invalid value for '--properties': the value is not valid JSON: " in result.stderr
    assert "at line 1 column 9" in result.stderr


def test_json_of_the_wrong_kind_and_missing_file() -> None:
    result = cli_runner().invoke(echo_json, ["--properties", "[1]"])
    assert result.exit_code == 2
    assert "expected a JSON object, got list" in result.stderr
    result = cli_runner().invoke(echo_json, ["--properties", "@/nonexistent/p.json"])
    assert result.exit_code == 2
    assert "cannot read /nonexistent/p.json" in result.stderr


def test_key_value() -> None:
    kv = plumb.KeyValue()
    assert kv.convert("A=b=c", None, None) == ("A", "b=c")
    with pytest.raises(click.BadParameter, match="expected NAME=VALUE"):
        kv.convert("novalue", None, None)


# -- CI outputs ---------------------------------------------------------------------------------


def test_emit_writes_stdout_outputs_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    out, summary = tmp_path / "out", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    plumb.set_context("port", "entity upsert")
    plumb.emit({"id": "x\ny"}, outputs={"identifier": "x\ny", "entity": {"a": 1}}, summary={"entity": "a|b"})
    assert json.loads(capsys.readouterr().out) == {"id": "x\ny"}
    assert github_outputs(out) == {"result": '{\n  "id": "x\\ny"\n}', "identifier": "x\ny", "entity": '{"a": 1}'}
    # A heading saying what ran, then the facts (tests/test_ci_native.py renders richer summaries).
    assert summary.read_text() == "### cirelay port entity upsert\n\n- **entity**: a\\|b\n\n"


def test_mask_only_in_github_actions(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    plumb.mask("tok")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    plumb.mask("tok")
    assert capsys.readouterr().err == "::add-mask::tok\n"


# -- waiter -------------------------------------------------------------------------------------


def _states(*seq: str):  # type: ignore[no-untyped-def]
    values = iter(seq)
    return lambda: next(values)


def _classify(state: str) -> tuple:
    return ({"ok": "success", "bad": "failure"}.get(state, "pending"), state)


def test_wait_success_backs_off_and_reports_changes_only(no_sleep: list, capsys) -> None:  # type: ignore[no-untyped-def]
    result = waiter.wait_for(
        _states("queued", "queued", "running", "running", "running", "ok"), _classify, timeout=600, what="task 1"
    )
    assert result == "ok"
    assert no_sleep == [2.0, 3.0, 4.5, 6.75, 10.125]
    assert capsys.readouterr().err == "task 1: queued\ntask 1: running\ntask 1: ok\n"


def test_wait_ceiling(no_sleep: list) -> None:
    waiter.wait_for(_states(*["x"] * 8, "ok"), _classify, timeout=600, what="t", start=1, factor=1.5, ceiling=10)
    assert no_sleep == [1, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10, 10]


def test_wait_failure_carries_last_state(no_sleep: list) -> None:
    with pytest.raises(waiter.CirelayError) as err:
        waiter.wait_for(_states("running", "bad"), _classify, timeout=600, what="task 9", url="http://z/9")
    assert err.value.exit_code == 1
    assert err.value.result == "bad"
    assert err.value.message == "task 9 ended bad (http://z/9)"


def test_wait_timeout_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    with pytest.raises(waiter.WaitTimeout) as err:
        waiter.wait_for(lambda: "running", _classify, timeout=10, what="task 2", url="http://z/2")
    assert err.value.exit_code == 3
    assert err.value.message == "gave up waiting for task 2 after 10 s; it may still be running remotely (http://z/2)"
    assert clock[0] == 10


# -- the group: errors and exit codes -----------------------------------------------------------


@click.group(cls=plumb.CirelayGroup)
def demo_cli() -> None:
    pass


@demo_cli.command()
def boom() -> None:
    raise plumb.WaitTimeout("too slow", result={"status": "running"})


@demo_cli.command()
def interrupted() -> None:
    raise KeyboardInterrupt


@demo_cli.command()
def missing() -> None:
    plumb.require(None, "--client-id", "PORT_CLIENT_ID")


def test_group_maps_errors_to_exit_codes() -> None:
    result = cli_runner().invoke(demo_cli, ["boom"])
    assert result.exit_code == 3
    assert result.stdout == '{\n  "status": "running"\n}\n'
    assert "Error: too slow" in result.stderr
    assert cli_runner().invoke(demo_cli, ["interrupted"]).exit_code == 130
    result = cli_runner().invoke(demo_cli, ["missing"])
    assert result.exit_code == 2
    assert "missing --client-id: pass it or set PORT_CLIENT_ID" in result.stderr


def test_wait_abandon_cancels_on_timeout_and_interrupt(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    clock = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    cancelled: list = []
    with pytest.raises(waiter.WaitTimeout):
        waiter.wait_for(lambda: "running", _classify, timeout=5, what="task 3", on_abandon=lambda: cancelled.append(1))

    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        waiter.wait_for(interrupted, _classify, timeout=5, what="task 4", on_abandon=lambda: cancelled.append(2))

    def failing_cancel() -> None:
        raise waiter.CirelayError("409 already done")

    with pytest.raises(waiter.WaitTimeout):
        waiter.wait_for(lambda: "running", _classify, timeout=5, what="task 5", on_abandon=failing_cancel)
    assert cancelled == [1, 2]
    assert "could not cancel task 5: 409 already done" in capsys.readouterr().err


def test_json_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_bytes(b'{"a": "\xff"}')
    result = cli_runner().invoke(echo_json, ["--properties", f"@{tmp_path / 'p.json'}"])
    assert result.exit_code == 2
    assert f"{tmp_path / 'p.json'} is not UTF-8 text (byte 7)" in result.stderr


def test_a_header_value_is_never_quoted_in_an_error() -> None:
    session = plumb.make_session()
    with pytest.raises(plumb.CirelayError) as err:
        plumb.api_request(session, "GET", "http://127.0.0.1:9/", headers={"Authorization": "Bearer s3cret\nX"})
    assert "s3cret" not in err.value.message
    assert err.value.message == "could not send GET http://127.0.0.1:9/: a header holds characters HTTP cannot carry"


@pytest.mark.parametrize("script", ["port", "zadig", "codearts", "octoplant"])
def test_a_group_without_its_subcommand_shows_help_and_exits_2(script: str) -> None:
    module = load_script(script)
    group = sorted(name for name, cmd in module.cli.commands.items() if isinstance(cmd, click.Group))[0]
    result = cli_runner().invoke(module.cli, [group])
    assert result.exit_code == 2  # a usage error, as click 8.2 has it: nothing ran
    assert result.stdout == ""  # stdout is for results only
    assert result.stderr.startswith(f"Usage: cli {group} [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in result.stderr
    top = cli_runner().invoke(module.cli, [])
    assert top.exit_code == 2 and "Commands:" in top.stderr


@pytest.mark.parametrize(
    ("script", "args", "named"),
    [
        ("codearts", ["run", "get", "--pipeline-id", "", "--run-id", "r"], "'--pipeline-id'"),
        ("codearts", ["run", "get", "--pipeline-id", "p", "--run-id", "  "], "'--run-id'"),
        ("port", ["run", "update", "r1", "--link", ""], "'--link'"),
        ("port", ["entity", "upsert", "-b", "svc", "-i", "x", "--team", "a", "--team", ""], "'--team'"),
        ("zadig", ["custom", "get", "-w", "", "--id", "1"], "'-w' / '--workflow'"),
    ],
)
def test_an_empty_value_is_exit_2_naming_it_before_anything_is_sent(script: str, args: list, named: str) -> None:
    # No credentials are set: had the command gone on, it would fail later with another message.
    result = cli_runner().invoke(load_script(script).cli, args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for {named}: must not be empty"
    assert result.stdout == ""


@pytest.mark.parametrize("script", ["port", "zadig", "codearts", "octoplant"])
def test_help_lists_every_command_with_its_whole_first_sentence(script: str) -> None:
    module = load_script(script)
    groups = [module.cli, *(c for c in module.cli.commands.values() if isinstance(c, click.Group))]
    for group in groups:
        args = [] if group is module.cli else [group.name]
        text = cli_runner().invoke(module.cli, [*args, "--help"], terminal_width=80).stdout
        listing = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
        assert "..." not in listing, f"{script} {group.name}: {listing}"
        for name, command in group.commands.items():
            first = (command.help or "").split("\n\n")[0].replace("\n", " ").split(". ")[0].rstrip(".")
            assert " ".join(listing.split()).count(" ".join(first.split())) >= 1, f"{script} {name}: {first!r}"


def test_octoplant_output_option_is_named_as_its_help_says() -> None:
    text = cli_runner().invoke(load_script("octoplant").cli, ["export", "--help"], terminal_width=100).stdout
    assert "-o, --output FILE" in text
    assert "PATH" not in text
