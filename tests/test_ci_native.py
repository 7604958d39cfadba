"""Native to GitHub Actions: error and warning annotations, folded groups, summaries people can read.

Workflow-command lines are parsed back the way the runner reads them; summaries are rendered with a
CommonMark + GFM-tables renderer (markdown-it-py) and checked on the HTML, as GitHub would show them.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from markdown_it import MarkdownIt

from cirelay.emulators.base import FakeServer, json_reply
from tests.conftest import load_script, run_script

core = load_script("zadig")  # any built script carries the shared core; Zadig's has the waiter too
SECRET = "s3cr3t-client-secret"


def workflow_commands(text: str) -> List[Tuple[str, Dict[str, str], str]]:
    """(command, properties, message) of every ::command props::message line, unescaped as the runner does."""

    def unescape(value: str, prop: bool = False) -> str:
        if prop:
            value = value.replace("%3A", ":").replace("%2C", ",")
        return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")

    found = []
    for line in text.splitlines():
        match = re.fullmatch(r"::([a-z-]+)(?: ([^:]*))?::(.*)", line)
        if match:
            props = {}
            for pair in filter(None, (match.group(2) or "").split(",")):
                key, _, value = pair.partition("=")
                props[key] = unescape(value, prop=True)
            found.append((match.group(1), props, unescape(match.group(3))))
    return found


def render(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_workflow_command_escaping_keeps_one_command_on_one_line() -> None:
    assert core.escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert core.escape_property("cirelay zadig: run, wait") == "cirelay zadig%3A run%2C wait"


def test_annotations_only_in_github_actions(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    core.annotation("error", "boom", "t")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    core.annotation("error", "line one\nline two: 100%", "cirelay zadig custom run")
    core.warn("run R was IGNORED")
    err = capsys.readouterr().err
    commands = workflow_commands(err)
    assert commands[0] == ("error", {"title": "cirelay zadig custom run"}, "line one\nline two: 100%")
    assert commands[1][0] == "warning" and commands[1][2] == "run R was IGNORED"
    assert "warning: run R was IGNORED\n" in err  # people reading the raw log see it too


def test_log_group_folds_in_github_actions_only(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    with core.log_group("Build / compile", out):
        out.write("log line\n")
    assert out.getvalue() == "log line\n"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    out = io.StringIO()
    with core.log_group("Build / compile", out):
        out.write("log line\n")
    assert out.getvalue() == "::group::Build / compile\nlog line\n::endgroup::\n"


def test_summary_renders_a_heading_a_link_the_facts_and_details(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    core.set_context("zadig", "custom wait")
    stages = core.md_table(
        ["stage", "job", "status", "duration"],
        [
            ["build", "build-api", f"{core.status_icon('passed')} passed", "1m 2s"],
            ["deploy", "dep|loy", "⏳ running", ""],
        ],
    )
    core.emit(
        {"task_id": 7},
        summary={"task": 7, "status": "failed", "url": "https://zadig.example/t/7"},
        link=("deploy-dev #7", "https://zadig.example/t/7"),
        details=stages,
    )
    html = render(summary.read_text(encoding="utf-8"))
    assert "<h3>❌ cirelay zadig custom wait</h3>" in html
    assert '<a href="https://zadig.example/t/7">deploy-dev #7</a>' in html
    assert "<li><strong>status</strong>: ❌ failed</li>" in html
    assert "<strong>url</strong>" not in html  # the link above says it already
    assert "<th>stage</th>\n<th>job</th>\n<th>status</th>\n<th>duration</th>" in html
    assert "<td>build-api</td>\n<td>✅ passed</td>\n<td>1m 2s</td>" in html
    assert "<td>dep|loy</td>" in html  # a pipe in a value stays inside its cell


@pytest.mark.parametrize(
    ("status", "icon"),
    [("passed", "✅"), ("COMPLETED", "✅"), ("FAILED", "❌"), ("reject", "❌"), ("running", "⏳"), ("IGNORED", "⏭")],
)
def test_status_icons(status: str, icon: str) -> None:
    assert core.status_icon(status) == icon


def test_a_failed_step_raises_one_error_annotation_without_the_secret(tmp_path: Path) -> None:
    with FakeServer() as fake:
        fake.route("POST", "/v1/auth/access_token")(
            lambda req: json_reply(200, {"ok": True, "accessToken": "tok", "expiresIn": 3600, "tokenType": "Bearer"})
        )
        fake.route("GET", "/v1/blueprints/svc/entities/x")(
            lambda req: json_reply(403, {"ok": False, "error": "forbidden", "message": f"no access for {SECRET}"})
        )
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
            "PORT_CLIENT_ID": "id",
            "PORT_CLIENT_SECRET": SECRET,
            "PORT_BASE_URL": fake.url,
            "PORT_TOKEN_CACHE": "0",
        }
        done = run_script("port", "entity", "get", "-b", "svc", "-i", "x", env=env)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    errors = [c for c in workflow_commands(done.stderr) if c[0] == "error"]
    assert len(errors) == 1
    _, props, message = errors[0]
    assert props == {"title": "cirelay port entity get"}
    error_line = next(line for line in done.stderr.splitlines() if line.startswith("Error: "))
    assert message == error_line[len("Error: ") :]  # the same words as the log line
    assert SECRET not in done.stderr and "***" in message


def test_a_bad_input_is_annotated_too(tmp_path: Path) -> None:
    env = {"GITHUB_ACTIONS": "true", "PORT_CLIENT_ID": "id", "PORT_CLIENT_SECRET": SECRET, "CIRELAY_TIMEOUT": "soon"}
    done = run_script("port", "entity", "get", "-b", "svc", "-i", "x", env=env)
    assert done.returncode == 2
    errors = [c for c in workflow_commands(done.stderr) if c[0] == "error"]
    assert [(c, p) for c, p, _ in errors] == [("error", {"title": "cirelay port entity get"})]
    assert errors[0][2] == "CIRELAY_TIMEOUT must be seconds or 'connect,read' seconds, got 'soon'"


def test_a_wait_that_cancels_the_remote_task_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    clock = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    cancelled: List[int] = []
    with pytest.raises(core.WaitTimeout) as raised:
        core.wait_for(
            lambda: "running",
            lambda s: ("pending", s),
            timeout=5,
            what="task 3",
            url="http://z/3",
            on_abandon=lambda: cancelled.append(1),
        )
    assert cancelled == [1]
    assert raised.value.message == "gave up waiting for task 3 after 5 s and cancelled it (http://z/3)"
    warnings = [c for c in workflow_commands(capsys.readouterr().err) if c[0] == "warning"]
    assert [w[2] for w in warnings] == ["cancelled task 3: the wait ended before it did"]


# -- CircleCI ----------------------------------------------------------------------------------------


def _port_fake_failing_get() -> FakeServer:
    fake = FakeServer()
    fake.route("POST", "/v1/auth/access_token")(
        lambda req: json_reply(200, {"ok": True, "accessToken": "tok", "expiresIn": 3600, "tokenType": "Bearer"})
    )
    fake.route("GET", "/v1/blueprints/svc/entities/x")(
        lambda req: json_reply(404, {"ok": False, "error": "not_found", "message": "Entity not found"})
    )
    fake.route("GET", "/v1/blueprints/svc/entities/y")(
        lambda req: json_reply(200, {"ok": True, "entity": {"identifier": "y", "blueprint": "svc", "properties": {}}})
    )
    return fake


def test_circleci_failed_step_ends_saying_what_failed_and_how_to_rerun(tmp_path: Path) -> None:
    with _port_fake_failing_get() as fake:
        env = {"CIRCLECI": "true", "PORT_CLIENT_ID": "id", "PORT_CLIENT_SECRET": SECRET, "PORT_TOKEN_CACHE": "0"}
        url = fake.url
        args = ["entity", "get", "-b", "svc", "-i", "x", "--base-url", url, "--no-token-cache"]
        done = run_script("port", *args, env=env)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-2:] == [
        "cirelay port entity get failed (exit 1). To run it again with the same inputs:",
        f"  python port.py entity get -b svc -i x --base-url {url} --no-token-cache",
    ]
    assert SECRET not in done.stderr


def test_artifacts_dir_keeps_every_result_and_the_summary(tmp_path: Path) -> None:
    folder = tmp_path / "cirelay-artifacts"
    with _port_fake_failing_get() as fake:
        env = {
            "CIRCLECI": "true",
            "CIRELAY_ARTIFACTS_DIR": str(folder),
            "PORT_CLIENT_ID": "id",
            "PORT_CLIENT_SECRET": SECRET,
            "PORT_BASE_URL": fake.url,
            "PORT_TOKEN_CACHE": "0",
        }
        first = run_script("port", "entity", "get", "-b", "svc", "-i", "y", env=env)
        second = run_script("port", "entity", "get", "-b", "svc", "-i", "y", env=env)
    assert first.returncode == second.returncode == 0, first.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["port-entity-get-2.json", "port-entity-get.json", "summary.md"]
    assert json.loads((folder / "port-entity-get.json").read_text())["identifier"] == "y"
    html = render((folder / "summary.md").read_text(encoding="utf-8"))
    assert html.count("<h3>Port svc y: read</h3>") == 2


def test_rerun_hint_hides_secret_option_values(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CIRCLECI", "true")
    argv = [
        "x.py",
        "cmd",
        "--password",
        "p4ss",
        "--api-token=t0k",
        "--no-token-cache",
        "next",
        "--client-secret-file",
        "f",
    ]
    monkeypatch.setattr("sys.argv", argv)
    core.set_context("demo", "cmd")
    core.rerun_hint(1)
    assert capsys.readouterr().err.splitlines() == [
        "cirelay demo cmd failed (exit 1). To run it again with the same inputs:",
        "  python x.py cmd --password '***' '--api-token=***' --no-token-cache next --client-secret-file f",
    ]


def test_verbose_wait_says_every_poll_folded_in_one_group(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    clock = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    states = iter(["running", "running", "running", "passed"])
    settings = core.WaitSettings(timeout=60, poll_max=2, verbose=True)
    settings.run(lambda: next(states), lambda s: ("success" if s == "passed" else "pending", s), what="task 8")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "::group::waiting for task 8" and lines[-1] == "::endgroup::"
    assert lines[1] == "task 8: running"
    assert lines[2] == "task 8: still running (poll 2, 2 s in, 58 s left)"
    assert lines[3] == "task 8: still running (poll 3, 4 s in, 56 s left)"
    assert lines[4] == "task 8: passed"
    quiet = core.WaitSettings(timeout=60, poll_max=2)
    states = iter(["running", "running", "passed"])
    quiet.run(lambda: next(states), lambda s: ("success" if s == "passed" else "pending", s), what="task 9")
    assert capsys.readouterr().err.splitlines() == ["task 9: running", "task 9: passed"]  # changes only


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("zadig", ["custom", "wait"]),
        ("codearts", ["run", "wait"]),
        ("octoplant", ["export"]),
        ("zadig", ["task", "wait"]),
    ],
)
def test_every_wait_offers_verbose(script: str, args: List[str]) -> None:
    from tests.conftest import cli_runner

    text = cli_runner().invoke(load_script(script).cli, [*args, "--help"]).stdout
    assert "--verbose" in text and "--poll-max" in text


def test_a_remote_log_cannot_speak_workflow_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    # A build log is someone else's text: a line like ::add-mask:: or ::endgroup:: in it must stay text.
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    out = io.StringIO()
    with core.log_group("job build", out, remote_text=True):
        out.write("compiling\n::add-mask::hunter2\n::endgroup::\nno newline at the end")
    lines = out.getvalue().splitlines()
    assert lines[0] == "::group::job build"
    match = re.fullmatch(r"::stop-commands::(cirelay-[0-9a-f]{32})", lines[1])
    assert match, lines[1]
    resume = lines.index(f"::{match.group(1)}::")
    assert lines[2:resume] == ["compiling", "::add-mask::hunter2", "::endgroup::", "no newline at the end"]
    assert lines[resume + 1 :] == ["::endgroup::"]


def test_an_api_message_with_line_breaks_cannot_speak_workflow_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    core.log("Error: bad value\n::warning title=x::injected")
    lines = capsys.readouterr().err.splitlines()
    token = re.fullmatch(r"::stop-commands::(cirelay-[0-9a-f]{32})", lines[0])
    assert token and lines[1:] == ["Error: bad value", "::warning title=x::injected", f"::{token.group(1)}::"]
    core.log("one line")
    assert capsys.readouterr().err == "one line\n"  # a plain line is left as it is


def test_api_text_in_a_summary_is_text() -> None:
    html = render(core.md_table(["message"], [["[Log in](https://evil) ![](https://t/x.png) <b>hi</b> *x*"]]))
    assert "<a " not in html and "<img" not in html and "<b>" not in html and "<em>" not in html
    assert "[Log in](https://evil)" in html


def test_redact_keeps_the_error_type_and_its_fields() -> None:
    port = load_script("port")
    error = port.PortError("sent s3cret back", trace_id="t-1", retried=True, status=422, api_message="echo s3cret")
    blanked = port.redact(error, "s3cret")
    assert type(blanked) is port.PortError and (blanked.trace_id, blanked.retried) == ("t-1", True)
    assert (blanked.message, blanked.api_message, str(blanked)) == ("sent *** back", "echo ***", "sent *** back")
