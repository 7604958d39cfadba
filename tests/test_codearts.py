"""scripts/codearts.py against mocked HTTP: every command, the error bodies, signing and waiting."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
import responses
from click.testing import Result
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from responses import matchers, registries

from tests.conftest import cli_runner, github_outputs, load_script

codearts = load_script("codearts")

EP = "https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com"
PROJECT = "0123456789abcdef0123456789abcdef"
PIPE = "feedfacefeedfacefeedfacefeedface"
RUN = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
API = f"{EP}/v5/{PROJECT}/api/pipelines"
DETAIL = f"{API}/{PIPE}/pipeline-runs/detail"
TOKEN = "tok-SECRET-123"
RUN_URL = "https://devcloud.example/cicd/run/1"


@pytest.fixture(autouse=True)
def ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CODEARTS_ENDPOINT",
        "CODEARTS_REGION",
        "CODEARTS_PROJECT_ID",
        "CODEARTS_PIPELINE_ID",
        "CODEARTS_RUN_ID",
        "CODEARTS_TOKEN",
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_PROJECT_ID",
        "HUAWEICLOUD_USERNAME",
        "HUAWEICLOUD_PASSWORD",
        "HUAWEICLOUD_DOMAIN",
        "HUAWEICLOUD_IAM_ENDPOINT",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_ACTIONS",
        "CIRELAY_WAIT_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEARTS_ENDPOINT", EP)
    monkeypatch.setenv("CODEARTS_PROJECT_ID", PROJECT)
    monkeypatch.setenv("CODEARTS_TOKEN", TOKEN)


def invoke(*args: str, input: Optional[str] = None) -> Result:
    return cli_runner().invoke(codearts.cli, list(args), input=input)


def token_header() -> Any:
    return matchers.header_matcher({"X-Auth-Token": TOKEN})


def run_detail(status: str, stages: Optional[List[tuple]] = None, **extra: Any) -> Dict[str, Any]:
    stages = stages if stages is not None else [("Build", status)]
    return {
        "id": RUN,
        "pipeline_id": PIPE,
        "status": status,
        "detail_url": RUN_URL,
        "stages": [{"name": n, "sequence": i, "status": s, "jobs": []} for i, (n, s) in enumerate(stages)],
        **extra,
    }


# -- endpoint, credentials ----------------------------------------------------------------------


def test_endpoint_for_every_region_of_the_sdk_and_the_eu_site() -> None:
    from huaweicloudsdkcodeartspipeline.v2.region.codeartspipeline_region import CodeArtsPipelineRegion

    sdk_regions = CodeArtsPipelineRegion.static_fields
    assert len(sdk_regions) == 15
    for region, official in sdk_regions.items():
        assert codearts.endpoint_for_region(region) == official.endpoints[0], region
    # Huawei's EU endpoint page (issue 11); not in the SDK's table
    assert codearts.endpoint_for_region("eu-west-101") == "https://pipeline-external.eu-west-101.myhuaweicloud.eu"
    assert sorted(codearts.REGION_ENDPOINTS) == sorted([*sdk_regions, "eu-west-101"])


def test_an_unknown_region_is_exit_2_listing_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_ENDPOINT")
    result = invoke("pipeline", "list", "--region", "eu-west-0")
    assert result.exit_code == 2
    assert "unknown CodeArts region 'eu-west-0': known regions are af-north-1, af-south-1, ap-southeast-3" in " ".join(
        result.stderr.split()
    )
    assert "for another, set CODEARTS_ENDPOINT (or --endpoint)" in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("region", "endpoint", "iam"),
    [
        ("cn-north-4", "", "https://iam.cn-north-4.myhuaweicloud.com"),
        ("eu-west-101", "", "https://iam.eu-west-101.myhuaweicloud.eu"),
        ("", "", "https://iam.myhuaweicloud.com"),
        ("xx-new-1", "https://pipeline.xx-new-1.myhuaweicloud.eu", "https://iam.xx-new-1.myhuaweicloud.eu"),
    ],
)
def test_iam_endpoint_is_on_the_regions_domain(region: str, endpoint: str, iam: str) -> None:
    assert codearts.iam_endpoint_for_region(region, endpoint) == iam


@responses.activate
def test_region_builds_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_ENDPOINT")
    monkeypatch.setenv("CODEARTS_REGION", "tr-west-1")
    responses.post(
        f"https://pipeline-external.tr-west-1.myhuaweicloud.com/v5/{PROJECT}/api/pipelines/list",
        json={"total": 0, "pipelines": []},
    )
    result = invoke("pipeline", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout == "[]\n"


def test_no_endpoint_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_ENDPOINT")
    result = invoke("pipeline", "list")
    assert result.exit_code == 2
    assert "missing the CodeArts endpoint: pass --endpoint or --region" in result.stderr


def test_no_credentials_lists_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_TOKEN")
    result = invoke("pipeline", "list")
    assert result.exit_code == 2
    assert (
        "no CodeArts credentials: set one of CODEARTS_TOKEN; HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK; "
        "or HUAWEICLOUD_USERNAME, HUAWEICLOUD_PASSWORD and HUAWEICLOUD_DOMAIN"
    ) in result.stderr.replace("\n", " ").replace("  ", " ")


@responses.activate
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CODEARTS_TOKEN", "tok-secret-1\nrest"),
        ("CODEARTS_TOKEN", "tok-secret-1\u4e2d"),
        ("HUAWEICLOUD_SDK_AK", "tok-secret-1\r\nrest"),
        ("HUAWEICLOUD_SDK_SK", "tok-secret-1\x07rest"),
    ],
)
def test_a_credential_no_header_can_carry_is_exit_2_without_showing_it(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests/http.client would refuse the header with an error that quotes it: the secret on stderr.
    if name != "CODEARTS_TOKEN":
        monkeypatch.delenv("CODEARTS_TOKEN")
        monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AK1")
        monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "SK1")
    monkeypatch.setenv(name, value)
    result = invoke("pipeline", "list")
    assert result.exit_code == 2, result.output
    assert f"{name} holds a line break" in result.stderr
    assert "tok-secret-1" not in result.stdout + result.stderr


def test_half_a_key_pair_or_login_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_TOKEN")
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AK1")
    result = invoke("pipeline", "list")
    assert result.exit_code == 2
    assert "HUAWEICLOUD_SDK_SK is not set" in result.stderr
    monkeypatch.delenv("HUAWEICLOUD_SDK_AK")
    monkeypatch.setenv("HUAWEICLOUD_USERNAME", "bot")
    result = invoke("pipeline", "list")
    assert result.exit_code == 2
    assert "IAM password login needs HUAWEICLOUD_PASSWORD, HUAWEICLOUD_DOMAIN too" in result.stderr


def test_missing_project_id_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_PROJECT_ID")
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 2
    assert "missing --project-id: pass it or set CODEARTS_PROJECT_ID" in result.stderr


def _commands(group: Any, path: str = "") -> Any:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{path}{name} ")
        else:
            yield f"{path}{name}", command


def test_every_command_takes_the_connection_options_after_it() -> None:
    commands = dict(_commands(codearts.cli))
    assert sorted(commands) == [
        "pipeline list",
        "pipeline status",
        "run artifacts",
        "run get",
        "run list",
        "run logs",
        "run outputs",
        "run retry",
        "run review",
        "run start",
        "run stop",
        "run wait",
        "template create",
    ]
    wanted = {
        "endpoint": (["--endpoint"], "CODEARTS_ENDPOINT"),
        "region": (["--region"], "CODEARTS_REGION"),
        "project_id": (["--project-id"], "CODEARTS_PROJECT_ID"),
    }
    for name, command in commands.items():
        found = {p.name: (p.opts, p.envvar) for p in command.params if p.name in wanted}
        assert found == wanted, name
        assert all(p.show_envvar for p in command.params if p.name in wanted), name
    assert [p.name for p in codearts.cli.params] == ["version"]  # no group options: they go after the command


OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
TR_DETAIL = (
    f"https://pipeline-external.tr-west-1.myhuaweicloud.com/v5/{OTHER_PROJECT}/api/pipelines/{PIPE}"
    "/pipeline-runs/detail"
)


@responses.activate
def test_options_after_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_ENDPOINT")
    monkeypatch.delenv("CODEARTS_PROJECT_ID")
    responses.get(TR_DETAIL, json=run_detail("COMPLETED"), match=[token_header()])
    args = ["--pipeline-id", PIPE, "--run-id", RUN, "--region=tr-west-1", "--project-id", OTHER_PROJECT]
    result = invoke("run", "get", *args)  # as the GitHub Action appends its args
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "COMPLETED"


@responses.activate
def test_options_from_the_env_and_the_command_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_ENDPOINT")
    monkeypatch.setenv("CODEARTS_REGION", "tr-west-1")
    monkeypatch.setenv("CODEARTS_PROJECT_ID", OTHER_PROJECT)
    responses.get(TR_DETAIL, json=run_detail("RUNNING"))
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "RUNNING"
    monkeypatch.setenv("CODEARTS_ENDPOINT", "https://codearts.invalid")
    responses.get(DETAIL, json=run_detail("FAILED"))
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN, "--endpoint", EP, "--project-id", PROJECT)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "FAILED"


def test_options_before_the_command_are_no_options() -> None:
    result = invoke("--region", "tr-west-1", "pipeline", "list")
    assert result.exit_code == 2
    assert "No such option: --region" in result.stderr


def test_credential_order_token_first() -> None:
    env = {"CODEARTS_TOKEN": "t", "HUAWEICLOUD_SDK_AK": "a", "HUAWEICLOUD_SDK_SK": "s", "HUAWEICLOUD_USERNAME": "u"}
    assert codearts.credentials_from_env(env) == {"kind": "token", "token": "t"}
    del env["CODEARTS_TOKEN"]
    assert codearts.credentials_from_env(env)["kind"] == "aksk"


# -- signing ---------------------------------------------------------------------------------------


SIGNING_CASES = [
    ("GET", f"{DETAIL}?pipeline_run_id={RUN}", None),
    ("POST", f"{API}/list", {"name": "中文 pipeline", "offset": 0, "limit": 50}),
    ("POST", f"{API}/{PIPE}/pipeline-runs/{RUN}/stop", None),
    ("GET", f"{EP}/v3/templates/a%20b~c/status?z=1&a=2&a=1&e=", None),
]


@pytest.mark.parametrize(("method", "url", "body"), SIGNING_CASES)
@pytest.mark.parametrize("project_id", [None, "regionproject01"])
@pytest.mark.parametrize("security_token", [None, "temporary-SECURITY-token"])
def test_signature_matches_huaweicloudsdkcore(
    method: str, url: str, body: Any, project_id: Optional[str], security_token: Optional[str]
) -> None:
    auth = codearts.SdkHmacAuth(
        "HPUAEXAMPLEAK", "sk/with+odd=chars", project_id, clock=lambda: 1_700_000_000, security_token=security_token
    )
    # the headers the SDK sets on every request: Content-Type (each *_http_info), User-Agent (client.py)
    prepared = requests.Request(
        method, url, json=body, headers={"Content-Type": "application/json", "User-Agent": "cirelay/0.1.0"}
    ).prepare()
    auth(prepared)
    assert prepared.headers["X-Sdk-Date"] == "20231114T221320Z"
    assert prepared.headers.get("X-Security-Token") == security_token

    parts = urlsplit(prepared.url)
    headers = {
        "X-Sdk-Date": prepared.headers["X-Sdk-Date"],
        "Content-Type": "application/json",
        "User-Agent": "cirelay/0.1.0",
    }
    if project_id:
        headers["X-Project-Id"] = project_id
    official = SdkRequest(
        method=method,
        schema="https",
        host=parts.netloc,
        resource_path=unquote(parts.path),
        query_params=parse_qsl(parts.query, keep_blank_values=True),
        header_params=headers,
        body=prepared.body or "",
    )
    credentials = BasicCredentials("HPUAEXAMPLEAK", "sk/with+odd=chars")
    if security_token:
        credentials.with_security_token(security_token)
    credentials.sign_request(official)  # adds X-Security-Token, then signs every header (signer.py)
    assert prepared.headers["Authorization"] == official.header_params["Authorization"]
    signed = "content-type;host;user-agent;" + ("x-project-id;" if project_id else "") + "x-sdk-date"
    signed += ";x-security-token" if security_token else ""
    assert prepared.headers["Authorization"].startswith(
        f"SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK, SignedHeaders={signed}, Signature="
    )


def test_signer_never_shows_the_secret_key() -> None:
    auth = codearts.SdkHmacAuth("AK", "very-secret-sk")
    assert "very-secret-sk" not in repr(auth)
    assert "tok" not in repr(codearts.TokenAuth("tok"))


@responses.activate
def test_requests_are_signed_with_the_key_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_TOKEN")
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AKIDEXAMPLE")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "SKEXAMPLE")
    monkeypatch.setenv("HUAWEICLOUD_SDK_PROJECT_ID", "iamproject")
    call = responses.get(DETAIL, json=run_detail("RUNNING"))
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0, result.output
    sent = call.calls[0].request.headers
    assert sent["X-Project-Id"] == "iamproject"
    assert "X-Auth-Token" not in sent
    # the headers the SDK signs (issue 11: content-type and user-agent too), see the SDK comparison above
    assert sent["Authorization"].startswith(
        "SDK-HMAC-SHA256 Access=AKIDEXAMPLE, SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date,"
        " Signature="
    )
    assert "X-Security-Token" not in sent
    assert "SKEXAMPLE" not in result.output


@responses.activate
def test_temporary_credentials_send_and_sign_the_security_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_TOKEN")
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AKTEMP")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "SKTEMP-SECRET")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SECURITY_TOKEN", "STS-SECRET-token")
    call = responses.get(DETAIL, json=run_detail("RUNNING"))
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0, result.output
    sent = call.calls[0].request.headers
    assert sent["X-Security-Token"] == "STS-SECRET-token"
    assert "SignedHeaders=content-type;host;user-agent;x-sdk-date;x-security-token," in sent["Authorization"]
    assert "SECRET" not in result.output


def test_a_security_token_no_header_can_carry_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_TOKEN")
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AK1")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "SK1")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SECURITY_TOKEN", "sts-secret\nrest")
    result = invoke("pipeline", "list")
    assert result.exit_code == 2
    assert "HUAWEICLOUD_SDK_SECURITY_TOKEN holds a line break" in result.stderr
    assert "sts-secret" not in result.output


# -- IAM login -----------------------------------------------------------------------------------


def _use_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_TOKEN")
    monkeypatch.setenv("HUAWEICLOUD_USERNAME", "ci-bot")
    monkeypatch.setenv("HUAWEICLOUD_PASSWORD", "p@ss-SECRET")
    monkeypatch.setenv("HUAWEICLOUD_DOMAIN", "acme")


@responses.activate
def test_password_login_gets_a_token_and_masks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_password(monkeypatch)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    login = responses.post(
        "https://iam.cn-north-4.myhuaweicloud.com/v3/auth/tokens",
        status=201,
        json={"token": {}},
        headers={"X-Subject-Token": "MIIsubject-SECRET"},
        match=[
            matchers.json_params_matcher(
                {
                    "auth": {
                        "identity": {
                            "methods": ["password"],
                            "password": {
                                "user": {"name": "ci-bot", "password": "p@ss-SECRET", "domain": {"name": "acme"}}
                            },
                        },
                        "scope": {"project": {"name": "cn-north-4"}},
                    }
                }
            )
        ],
    )
    responses.get(
        DETAIL, json=run_detail("RUNNING"), match=[matchers.header_matcher({"X-Auth-Token": "MIIsubject-SECRET"})]
    )
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0, result.output
    assert len(login.calls) == 1
    assert result.stderr == "::add-mask::MIIsubject-SECRET\n"
    assert "p@ss-SECRET" not in result.output


@responses.activate
def test_password_login_with_explicit_iam_endpoint_and_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_password(monkeypatch)
    monkeypatch.setenv("CODEARTS_ENDPOINT", "https://codearts.internal.example")
    monkeypatch.setenv("HUAWEICLOUD_IAM_ENDPOINT", "https://iam.internal.example/")
    responses.post(
        "https://iam.internal.example/v3/auth/tokens",
        status=201,
        headers={"X-Subject-Token": "T2"},
        match=[matchers.json_params_matcher({"auth": {"scope": {"domain": {"name": "acme"}}}}, strict_match=False)],
    )
    responses.post(f"https://codearts.internal.example/v5/{PROJECT}/api/pipelines/list", json={"pipelines": []})
    assert invoke("pipeline", "list").exit_code == 0


@responses.activate
@pytest.mark.parametrize("names", [("HUAWEICLOUD_SDK_IAM_ENDPOINT",), ("HUAWEICLOUD_SDK_IAM_ENDPOINT", "alias")])
def test_the_sdks_iam_endpoint_variable_wins_over_the_alias(names: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_password(monkeypatch)
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", "https://iam.sdk.example")
    if "alias" in names:
        monkeypatch.setenv("HUAWEICLOUD_IAM_ENDPOINT", "https://iam.alias.example")
    login = responses.post("https://iam.sdk.example/v3/auth/tokens", status=201, headers={"X-Subject-Token": "T3"})
    responses.post(f"{API}/list", json={"pipelines": []})
    assert invoke("pipeline", "list").exit_code == 0
    assert len(login.calls) == 1


@responses.activate
def test_password_login_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_password(monkeypatch)
    url = "https://iam.cn-north-4.myhuaweicloud.com/v3/auth/tokens"
    responses.post(url, status=401, json={"error": {"code": 401, "message": "The username or password is wrong."}})
    result = invoke("pipeline", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: IAM did not accept the user name, password and domain (HTTP 401): "
        f"The username or password is wrong. (401, POST {url})\n"
    )
    assert "p@ss-SECRET" not in result.output


@responses.activate
def test_login_answer_without_subject_token(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_password(monkeypatch)
    responses.post("https://iam.cn-north-4.myhuaweicloud.com/v3/auth/tokens", status=201, json={"token": {}})
    result = invoke("pipeline", "list")
    assert result.exit_code == 1
    assert "without an X-Subject-Token header" in result.stderr


# -- pipeline list -------------------------------------------------------------------------------


@responses.activate(registry=registries.OrderedRegistry)
def test_pipeline_list_reads_every_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codearts, "PAGE_SIZE", 2)
    url = f"{API}/list"
    base = {"sort_key": "name", "sort_dir": "asc", "name": "web"}
    responses.post(
        url,
        json={"offset": 0, "limit": 2, "total": 3, "pipelines": [{"pipeline_id": "a"}, {"pipeline_id": "b"}]},
        match=[matchers.json_params_matcher({**base, "offset": 0, "limit": 2}), token_header()],
    )
    responses.post(
        url,
        json={"offset": 2, "limit": 2, "total": 3, "pipelines": [{"pipeline_id": "c"}]},
        match=[matchers.json_params_matcher({**base, "offset": 2, "limit": 2})],
    )
    result = invoke("pipeline", "list", "--name", "web")
    assert result.exit_code == 0, result.output
    assert [p["pipeline_id"] for p in json.loads(result.stdout)] == ["a", "b", "c"]


@responses.activate
def test_pipeline_list_limit_stops_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codearts, "PAGE_SIZE", 2)
    responses.post(
        f"{API}/list",
        json={"total": 9, "pipelines": [{"pipeline_id": "a"}]},
        match=[matchers.json_params_matcher({"offset": 0, "limit": 1}, strict_match=False)],
    )
    result = invoke("pipeline", "list", "--limit", "1")
    assert json.loads(result.stdout) == [{"pipeline_id": "a"}]


# -- run start -----------------------------------------------------------------------------------


@responses.activate
def test_run_start_sends_variables_and_description(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    responses.post(
        f"{API}/{PIPE}/run",
        json={"pipeline_run_id": RUN},
        match=[
            matchers.json_params_matcher(
                {"variables": [{"name": "ENV", "value": "staging"}, {"name": "X", "value": "a=b"}], "description": "ci"}
            ),
            token_header(),
        ],
    )
    result = invoke(
        "run", "start", "--pipeline-id", PIPE, "--var", "ENV=staging", "--var", "X=a=b", "--description", "ci"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"pipeline_id": PIPE, "pipeline_run_id": RUN}
    assert result.stderr == f"started pipeline run {RUN}\n"
    outputs = github_outputs(tmp_path / "out")
    assert outputs["run-id"] == RUN
    assert outputs["url"] == f"{DETAIL}?pipeline_run_id={RUN}"  # the run's API address: no page yet


PIPELINE_DEF = {
    "id": PIPE,
    "sources": [
        {
            "type": "code",
            "params": {
                "git_type": "codehub",
                "git_url": "https://x/r.git",
                "codehub_id": "7",
                "build_params": {"x": 1},
            },
        }
    ],
}


@responses.activate
@pytest.mark.parametrize(
    ("flag", "value", "build"),
    [
        ("--branch", "main", {"build_type": "branch", "target_branch": "main", "event_type": "Manual"}),
        ("--tag", "v1.2", {"build_type": "tag", "tag": "v1.2", "event_type": "Manual"}),
    ],
)
def test_run_start_branch_or_tag_sets_the_code_sources(flag: str, value: str, build: Dict[str, str]) -> None:
    responses.get(f"{API}/{PIPE}", json=PIPELINE_DEF)
    params = {"git_type": "codehub", "git_url": "https://x/r.git", "codehub_id": "7", "build_params": build}
    responses.post(
        f"{API}/{PIPE}/run",
        json={"pipeline_run_id": RUN},
        match=[matchers.json_params_matcher({"variables": [], "sources": [{"type": "code", "params": params}]})],
    )
    result = invoke("run", "start", "--pipeline-id", PIPE, flag, value)
    assert result.exit_code == 0, result.output


def test_run_start_branch_and_tag_exclude_each_other() -> None:
    result = invoke("run", "start", "--pipeline-id", PIPE, "--branch", "a", "--tag", "b")
    assert result.exit_code == 2
    assert "--branch and --tag exclude each other" in result.stderr


@responses.activate
def test_run_start_branch_without_code_source_is_exit_2() -> None:
    responses.get(f"{API}/{PIPE}", json={"id": PIPE, "sources": []})
    result = invoke("run", "start", "--pipeline-id", PIPE, "--branch", "main")
    assert result.exit_code == 2
    assert result.stderr == f"Error: pipeline {PIPE} has no code source to set --branch/--tag on\n"


@responses.activate(registry=registries.OrderedRegistry)
def test_run_start_is_sent_once_even_on_503(no_sleep: list) -> None:
    url = f"{API}/{PIPE}/run"
    call = responses.post(url, status=503, json={"error_code": "DEVPIPE.00011500", "error_msg": "busy"})
    result = invoke("run", "start", "--pipeline-id", PIPE)
    assert result.exit_code == 1
    assert result.stderr == f"Error: busy (503, POST {url})\n"
    assert len(call.calls) == 1


@responses.activate
def test_run_start_answer_without_run_id() -> None:
    responses.post(f"{API}/{PIPE}/run", json={})
    result = invoke("run", "start", "--pipeline-id", PIPE)
    assert result.exit_code == 1
    assert result.stderr == f"Error: CodeArts started pipeline {PIPE} but did not say which run: {{}}\n"


@responses.activate
def test_run_start_unknown_pipeline_error_body() -> None:
    url = f"{API}/{PIPE}/run"
    responses.post(url, status=404, json={"error_code": "DEVPIPE.00011104", "error_msg": "the pipeline does not exist"})
    result = invoke("run", "start", "--pipeline-id", PIPE)
    assert result.exit_code == 1
    assert result.stderr == f"Error: pipeline {PIPE} not found: the pipeline does not exist (404, POST {url})\n"


@responses.activate(registry=registries.OrderedRegistry)
def test_run_start_wait_follows_the_new_run(no_sleep: list) -> None:
    responses.post(f"{API}/{PIPE}/run", json={"pipeline_run_id": RUN})
    responses.get(DETAIL, json=run_detail("RUNNING"), match=[matchers.query_param_matcher({"pipeline_run_id": RUN})])
    responses.get(DETAIL, json=run_detail("COMPLETED"))
    result = invoke("run", "start", "--pipeline-id", PIPE, "--wait", "--poll-max", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "COMPLETED"
    assert no_sleep == [1.0]


# -- run get / list / stop -------------------------------------------------------------------------


@responses.activate
def test_run_get_writes_outputs_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    detail = run_detail("RUNNING")
    responses.get(DETAIL, json=detail, match=[matchers.query_param_matcher({"pipeline_run_id": RUN})])
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == detail
    outputs = github_outputs(tmp_path / "out")
    assert outputs["run-id"] == RUN
    assert outputs["status"] == "RUNNING"
    assert outputs["url"] == RUN_URL
    assert json.loads(outputs["result"]) == detail
    assert "- **status**: ⏳ RUNNING\n" in (tmp_path / "summary").read_text()


@responses.activate
def test_run_get_not_found() -> None:
    responses.get(DETAIL, status=404, json={"error_code": "DEVPIPE.00011105", "error_msg": "the run does not exist"})
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: run {RUN} of pipeline {PIPE} not found: the run does not exist "
        f"(404, GET {DETAIL}?pipeline_run_id={RUN})\n"
    )


@responses.activate
def test_bad_token_says_which_credentials() -> None:
    responses.post(
        f"{API}/list", status=401, json={"error_code": "APIGW.0307", "error_msg": "The token must be updated."}
    )
    result = invoke("pipeline", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: authentication failed (HTTP 401): check CODEARTS_TOKEN or the access key pair: "
        f"The token must be updated. (401, POST {API}/list)\n"
    )
    assert TOKEN not in result.output


@responses.activate(registry=registries.OrderedRegistry)
def test_server_errors_are_retried_for_reads(no_sleep: list) -> None:
    responses.get(DETAIL, status=502)
    responses.get(DETAIL, status=500, json={"error_code": "X", "error_msg": "oops"})
    responses.get(DETAIL, json=run_detail("RUNNING"))
    assert invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN).exit_code == 0


@responses.activate
def test_non_json_answer() -> None:
    responses.get(DETAIL, body="<html>gateway</html>")
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 1
    assert "expected JSON from GET" in result.stderr
    assert "'<html>gateway</html>'" in result.stderr


@responses.activate
def test_run_list_body_and_paging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codearts, "PAGE_SIZE", 2)
    url = f"{API}/{PIPE}/pipeline-runs/list"
    base = {  # ListPipelineRunsQuery: sort_dir lower case, times as strings (issue 11)
        "sort_key": "start_time",
        "sort_dir": "desc",
        "status": ["FAILED", "CANCELED"],
        "start_time": "1677628800000",
        "end_time": "1678118399000",
    }
    responses.post(
        url,
        json={"total": 5, "pipeline_runs": [{"pipeline_run_id": "1"}, {"pipeline_run_id": "2"}]},
        match=[matchers.json_params_matcher({**base, "offset": 0, "limit": 2})],
    )
    responses.post(
        url,
        json={"total": 5, "pipeline_runs": [{"pipeline_run_id": "3"}]},
        match=[matchers.json_params_matcher({**base, "offset": 2, "limit": 1})],
    )
    result = invoke(
        "run", "list", "--pipeline-id", PIPE, "--status", "failed", "--status", "CANCELED",
        "--since", "2023-03-01", "--until", "1678118399", "--limit", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["pipeline_run_id"] for r in json.loads(result.stdout)] == ["1", "2", "3"]


def test_run_list_bad_time_is_exit_2() -> None:
    result = invoke("run", "list", "--pipeline-id", PIPE, "--since", "yesterday")
    assert result.exit_code == 2
    assert "expected epoch seconds/ms or an ISO date/time, got 'yesterday'" in result.stderr


@responses.activate
def test_run_stop() -> None:
    responses.post(f"{API}/{PIPE}/pipeline-runs/{RUN}/stop", json={"success": True})
    result = invoke("run", "stop", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"success": True}
    assert result.stderr == f"stopped pipeline run {RUN}\n"


@responses.activate
def test_run_stop_refused() -> None:
    url = f"{API}/{PIPE}/pipeline-runs/{RUN}/stop"
    responses.post(url, status=400, json={"error_code": "DEVPIPE.30011002", "error_msg": "the run has already ended"})
    result = invoke("run", "stop", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 1
    assert result.stderr == f"Error: the run has already ended (400, POST {url})\n"


@responses.activate
def test_run_stop_success_false() -> None:
    responses.post(f"{API}/{PIPE}/pipeline-runs/{RUN}/stop", json={"success": False})
    result = invoke("run", "stop", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"success": False}
    assert f"CodeArts did not stop run {RUN}" in result.stderr


# -- logs ------------------------------------------------------------------------------------------


def _log_url(job: str, step: str) -> str:
    return f"{API}/{PIPE}/pipeline-runs/{RUN}/jobs/{job}/steps/{step}/logs"


@responses.activate(registry=registries.OrderedRegistry)
def test_run_logs_one_step_pages_as_documented() -> None:
    # ShowPipelineLog: the answer's start_offset and end_offset go into the next request's (issue 11)
    url = _log_url("J1", "S1")
    page = {"limit": 500, "sort": "asc"}
    responses.post(
        url,
        json={"has_more": True, "start_offset": "6132", "end_offset": "6138", "log": "line1\n"},
        match=[matchers.json_params_matcher({**page, "start_offset": 0, "end_offset": 0})],
    )
    responses.post(
        url,
        json={"has_more": True, "start_offset": "6138", "end_offset": "6144", "log": "line2\n"},
        match=[matchers.json_params_matcher({**page, "start_offset": 6132, "end_offset": 6138})],
    )
    responses.post(
        url,
        json={"has_more": False, "start_offset": "6144", "end_offset": "6150", "log": "line3\n"},
        match=[matchers.json_params_matcher({**page, "start_offset": 6138, "end_offset": 6144})],
    )
    result = invoke("run", "logs", "--pipeline-id", PIPE, "--run-id", RUN, "--job-run-id", "J1", "--step-run-id", "S1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "line1\nline2\nline3\n"


@responses.activate
def test_run_logs_stops_when_the_offset_does_not_move() -> None:
    call = responses.post(_log_url("J", "S"), json={"has_more": True, "end_offset": 0, "log": "x"})
    result = invoke("run", "logs", "--pipeline-id", PIPE, "--run-id", RUN, "--job-run-id", "J", "--step-run-id", "S")
    assert result.stdout == "x"
    assert len(call.calls) == 1


@responses.activate(registry=registries.OrderedRegistry)
def test_run_logs_never_prints_a_page_twice() -> None:
    url = _log_url("J", "S")
    first = {"has_more": True, "start_offset": "6132", "end_offset": "6138", "log": "line1\n"}
    responses.post(url, json=first)
    responses.post(url, json=first)  # the same window handed back
    result = invoke("run", "logs", "--pipeline-id", PIPE, "--run-id", RUN, "--job-run-id", "J", "--step-run-id", "S")
    assert result.exit_code == 0, result.output
    assert result.stdout == "line1\n"
    assert len(responses.calls) == 2


@responses.activate
def test_run_logs_every_step_in_order() -> None:
    def job(jid: str, name: str, seq: int, steps: List[tuple], status: str = "COMPLETED") -> Dict[str, Any]:
        return {
            "id": jid,
            "name": name,
            "sequence": seq,
            "status": status,
            "steps": [{"id": s, "name": n, "sequence": i, "status": st} for i, (s, n, st) in enumerate(steps)],
        }

    detail = {
        "status": "FAILED",
        "stages": [
            {"name": "Deploy", "sequence": 1, "jobs": [job("J3", "Deploy", 0, [("S4", "Helm", "INIT")], "INIT")]},
            {
                "name": "Build",
                "sequence": 0,
                "jobs": [
                    job("J2", "Test", 1, [("S3", "Unit", "FAILED")], "FAILED"),
                    job("J1", "Compile", 0, [("S2", "Make", "COMPLETED"), ("S1", "Checkout", "COMPLETED")]),
                ],
            },
        ],
    }
    # steps out of order on purpose: the order comes from "sequence"
    detail["stages"][1]["jobs"][1]["steps"] = [
        {"id": "S1", "name": "Checkout", "sequence": 0, "status": "COMPLETED"},
        {"id": "S2", "name": "Make", "sequence": 1, "status": "COMPLETED"},
    ]
    responses.get(DETAIL, json=detail)
    for jid, sid in (("J1", "S1"), ("J1", "S2"), ("J2", "S3")):
        responses.post(_log_url(jid, sid), json={"has_more": False, "end_offset": "1", "log": f"log of {sid}"})
    result = invoke("run", "logs", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "===== job: Compile / step: Checkout =====\nlog of S1\n"
        "===== job: Compile / step: Make =====\nlog of S2\n"
        "===== job: Test / step: Unit =====\nlog of S3\n"
    )
    assert result.stderr == "===== job: Deploy / step: Helm ===== not run (INIT), no log\n"


def test_run_logs_job_and_step_go_together() -> None:
    result = invoke("run", "logs", "--pipeline-id", PIPE, "--run-id", RUN, "--job-run-id", "J")
    assert result.exit_code == 2
    assert "--job-run-id and --step-run-id go together" in result.stderr


# -- waiting ---------------------------------------------------------------------------------------


@responses.activate(registry=registries.OrderedRegistry)
# IGNORED is exit 1 since issue 11: the concurrency rule dropped the run, nothing ran (it was exit 0 + a warning)
@pytest.mark.parametrize(("final", "code"), [("COMPLETED", 0), ("FAILED", 1), ("CANCELED", 1), ("IGNORED", 1)])
def test_run_wait_exit_code_per_terminal_state(
    final: str, code: int, no_sleep: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    responses.get(DETAIL, json=run_detail("RUNNING", [("Build", "RUNNING"), ("Deploy", "INIT")]))
    responses.get(DETAIL, json=run_detail("RUNNING", [("Build", "RUNNING"), ("Deploy", "INIT")]))
    responses.get(DETAIL, json=run_detail(final, [("Build", "COMPLETED"), ("Deploy", final)]))
    result = invoke("run", "wait", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == code, result.output
    assert json.loads(result.stdout)["status"] == final  # the final run, on failure too
    lines = result.stderr.splitlines()
    shown = f"{final} (ignored by the pipeline's concurrency rule: nothing ran)" if final == "IGNORED" else final
    assert lines[:2] == [
        f"pipeline run {RUN}: RUNNING: Build RUNNING, Deploy INIT",
        f"pipeline run {RUN}: {shown}: Build COMPLETED, Deploy {final}",
    ]
    assert no_sleep == [2.0, 3.0]
    outputs = github_outputs(tmp_path / "out")
    assert (outputs["run-id"], outputs["status"], outputs["url"]) == (RUN, final, RUN_URL)
    # the job summary shows the run however it ended
    summary = (tmp_path / "summary").read_text()
    icon = {"FAILED": "❌", "CANCELED": "❌", "COMPLETED": "✅", "IGNORED": "⏭"}[final]
    assert f"[open the run in CodeArts]({RUN_URL})\n\n- **run**: {RUN}\n- **status**: {icon} {final}\n" in summary
    if code == 1:
        assert lines[2:] == [f"Error: pipeline run {RUN} ended {shown}: Build COMPLETED, Deploy {final} ({RUN_URL})"]
    else:
        assert lines[2:] == []


@responses.activate(registry=registries.OrderedRegistry)
@pytest.mark.parametrize("status", ["PAUSED", "SUSPEND"])
def test_paused_runs_are_shown_as_waiting_for_someone(status: str, no_sleep: list) -> None:
    responses.get(DETAIL, json=run_detail(status, [("Approve", status)]))
    responses.get(DETAIL, json=run_detail("COMPLETED", [("Approve", "COMPLETED")]))
    result = invoke("run", "wait", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        f"pipeline run {RUN}: {status} (waiting for someone: a manual review, a pause or a suspended stage): "
        f"Approve {status}"
    )


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> list:
    clock = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    return clock


@responses.activate
@pytest.mark.parametrize("cancel", [False, True])
def test_run_wait_timeout_is_exit_3(cancel: bool, fake_clock: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRELAY_WAIT_TIMEOUT", "20")
    detail = responses.get(DETAIL, json=run_detail("RUNNING"))
    stop = responses.post(f"{API}/{PIPE}/pipeline-runs/{RUN}/stop", json={"success": True})
    args = ["run", "wait", "--pipeline-id", PIPE, "--run-id", RUN, "--poll-max", "5"]
    result = invoke(*args, *(["--cancel-on-timeout"] if cancel else []))
    assert result.exit_code == 3
    assert fake_clock[0] == 20
    assert json.loads(result.stdout)["status"] == "RUNNING"
    # After a cancel that went through, the run is not running any more: the message says so.
    ending = " and cancelled it" if cancel else "; it may still be running remotely"
    assert (
        result.stderr.splitlines()[-1]
        == f"Error: gave up waiting for pipeline run {RUN} after 20 s{ending} ({RUN_URL})"
    )
    assert len(stop.calls) == (1 if cancel else 0)
    assert len(detail.calls) == 7 + (1 if cancel else 0)  # at 0 2 5 9.5 14.5 19.5 20 s, then a look after the stop


@responses.activate
def test_interrupt_while_waiting_cancels_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    responses.get(DETAIL, json=run_detail("RUNNING"))
    stop = responses.post(f"{API}/{PIPE}/pipeline-runs/{RUN}/stop", json={"success": True})

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", interrupt)
    result = invoke("run", "wait", "--pipeline-id", PIPE, "--run-id", RUN, "--cancel-on-timeout")
    assert result.exit_code == 130
    assert len(stop.calls) == 1
    assert json.loads(result.stdout)["status"] == "RUNNING"
    assert result.stderr.splitlines()[-2:] == [f"cancelling pipeline run {RUN}", "Interrupted."]


@responses.activate(registry=registries.OrderedRegistry)
def test_api_error_while_waiting_is_exit_1_without_a_result(no_sleep: list) -> None:
    responses.get(DETAIL, status=404, json={"error_code": "DEVPIPE.00011105", "error_msg": "gone"})
    result = invoke("run", "wait", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "not found: gone (404, GET" in result.stderr


# -- templates -------------------------------------------------------------------------------------

TEMPLATE = {"flow": {"initial": {"final": "always"}}, "states": {}, "workflow": {"name": "pipeline-123123"}}


@responses.activate(registry=registries.OrderedRegistry)
def test_template_create_and_wait(tmp_path: Path, no_sleep: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    path = tmp_path / "cddl.json"
    path.write_text(json.dumps(TEMPLATE))
    create = responses.post(
        f"{EP}/v3/templates/task", json={"task_id": "T1"}, match=[matchers.json_params_matcher(TEMPLATE)]
    )
    status_url = f"{EP}/v3/templates/T1/status"
    responses.get(status_url, json={"task_id": "T1", "task_status": "processing"})
    done = {
        "task_id": "T1",
        "task_status": "succeeded",
        "pipeline_id": "P9",
        "pipeline_name": "pipeline-123123",
        "pipeline_url": "https://devcloud.example/p/P9",
    }
    responses.get(status_url, json=done)
    result = invoke("template", "create", "--file", str(path), "--wait")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == done
    assert len(create.calls) == 1
    assert result.stderr == (
        "template task T1 accepted\ntemplate task T1: processing\n"
        "template task T1: succeeded: pipeline pipeline-123123\n"
    )
    outputs = github_outputs(tmp_path / "out")
    assert (outputs["task-id"], outputs["pipeline-id"], outputs["url"]) == ("T1", "P9", "https://devcloud.example/p/P9")


@responses.activate
def test_template_create_without_wait_needs_no_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEARTS_PROJECT_ID")  # /v3/templates is not under a project
    path = tmp_path / "cddl.json"
    path.write_text(json.dumps(TEMPLATE))
    responses.post(f"{EP}/v3/templates/task", json={"task_id": "T1"})
    result = invoke("template", "create", "--file", str(path))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"task_id": "T1"}


@responses.activate(registry=registries.OrderedRegistry)
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"task_status": "failed"}, "template task T1 ended failed"),
        ({"task_status": "finished"}, "template task T1 ended finished without creating a pipeline"),
    ],
)
def test_template_task_failure(tmp_path: Path, no_sleep: list, answer: dict, message: str) -> None:
    path = tmp_path / "cddl.json"
    path.write_text(json.dumps(TEMPLATE))
    responses.post(f"{EP}/v3/templates/task", json={"task_id": "T1"})
    responses.get(f"{EP}/v3/templates/T1/status", json=answer)
    result = invoke("template", "create", "--file", str(path), "--wait")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == answer
    assert result.stderr.splitlines()[-1] == f"Error: {message} ({EP}/v3/templates/T1/status)"


@responses.activate
def test_template_wait_timeout_is_exit_3_with_the_tasks_url(tmp_path: Path) -> None:
    path = tmp_path / "cddl.json"
    path.write_text(json.dumps(TEMPLATE))
    responses.post(f"{EP}/v3/templates/task", json={"task_id": "T1"})
    responses.get(f"{EP}/v3/templates/T1/status", json={"task_id": "T1", "task_status": "processing"})
    result = invoke("template", "create", "--file", str(path), "--wait", "--timeout", "0")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["task_status"] == "processing"
    assert result.stderr.splitlines()[-1] == (
        "Error: gave up waiting for template task T1 after 0 s; it may still be running remotely "
        f"({EP}/v3/templates/T1/status)"
    )


def test_template_file_must_be_a_json_object(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[1, 2")
    result = invoke("template", "create", "--file", str(path))
    assert result.exit_code == 2
    assert "is not valid JSON" in result.stderr
    path.write_text("[1]")
    result = invoke("template", "create", "--file", str(path))
    assert result.exit_code == 2
    assert "must hold a JSON object" in result.stderr


@responses.activate
def test_template_refused_with_error_body(tmp_path: Path) -> None:
    path = tmp_path / "cddl.json"
    path.write_text("{}")
    url = f"{EP}/v3/templates/task"
    responses.post(url, status=400, json={"error_code": "DEVPIPE.00011001", "error_msg": "flow is required"})
    result = invoke("template", "create", "--file", str(path))
    assert result.exit_code == 1
    assert result.stderr == f"Error: flow is required (400, POST {url})\n"


@responses.activate
def test_pipeline_and_run_ids_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEARTS_PIPELINE_ID", PIPE)
    monkeypatch.setenv("CODEARTS_RUN_ID", RUN)
    responses.get(DETAIL, json=run_detail("RUNNING"), match=[matchers.query_param_matcher({"pipeline_run_id": RUN})])
    assert invoke("run", "get").exit_code == 0


def test_help_shows_env_vars_and_exit_codes() -> None:
    result = invoke("--help")
    assert "CODEARTS_ENDPOINT" in result.output
    assert "CODEARTS_REGION" in result.output
    assert "Exit codes: 0 done" in result.output
    result = invoke("run", "wait", "--help")
    assert "CIRELAY_WAIT_TIMEOUT" in result.output
    assert "--cancel-on-timeout" in result.output


# -- issue 11: review, start by name, tokens that expire -------------------------------------------


def _review_detail(*jobs: tuple) -> Dict[str, Any]:
    return {
        **run_detail("PAUSED", []),
        "stages": [
            {
                "name": "Approve",
                "sequence": 0,
                "status": "PAUSED",
                "jobs": [
                    {
                        "id": j,
                        "name": f"review {j}",
                        "sequence": i,
                        "status": "PAUSED",
                        "steps": [{"id": s, "status": "RUNNING"}],
                    }
                    for i, (j, s) in enumerate(jobs)
                ],
            }
        ],
    }


@responses.activate
def test_review_passes_the_one_waiting() -> None:
    responses.get(DETAIL, json=_review_detail(("J1", "S1")))
    call = responses.post(
        f"{API}/{PIPE}/pipeline-runs/{RUN}/jobs/J1/steps/S1/pass",
        json={"success": True},
        match=[matchers.query_param_matcher({})],
    )
    result = invoke("run", "review", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "pipeline_run_id": RUN,
        "job_run_id": "J1",
        "step_run_id": "S1",
        "decision": "passed",
        "success": True,
    }
    assert result.stderr == f"passed the manual review of pipeline run {RUN}\n"
    assert len(call.calls) == 1


@responses.activate
def test_review_with_several_waiting_is_exit_2_listing_them() -> None:
    responses.get(DETAIL, json=_review_detail(("J1", "S1"), ("J2", "S2")))
    result = invoke("run", "review", "--pipeline-id", PIPE, "--run-id", RUN, "--reject")
    assert result.exit_code == 2
    text = " ".join(result.stderr.split())
    assert f"2 manual reviews are waiting in run {RUN}, pick one:" in text
    assert "review J1: --job-run-id J1 --step-run-id S1; review J2: --job-run-id J2 --step-run-id S2" in text


@responses.activate
def test_review_refused_by_the_api_is_sent_once(no_sleep: list) -> None:
    url = f"{API}/{PIPE}/pipeline-runs/{RUN}/jobs/J/steps/S/refuse"
    call = responses.post(url, status=503, json={"error_code": "X", "error_msg": "busy"})
    args = ["--pipeline-id", PIPE, "--run-id", RUN, "--job-run-id", "J", "--step-run-id", "S", "--reject"]
    result = invoke("run", "review", *args)
    assert result.exit_code == 1
    assert result.stderr == f"Error: busy (503, POST {url})\n"
    assert len(call.calls) == 1


def test_run_start_takes_one_of_id_and_name() -> None:
    for args in ([], ["--pipeline-id", PIPE, "--pipeline", "web"]):
        result = invoke("run", "start", *args)
        assert result.exit_code == 2
        assert "pass one of --pipeline-id and --pipeline" in result.stderr


@responses.activate
def test_run_start_by_name_picks_the_exact_match() -> None:
    responses.post(
        f"{API}/list",
        json={
            "total": 2,
            "pipelines": [{"pipeline_id": "other", "name": "web-old"}, {"pipeline_id": PIPE, "name": "web"}],
        },
        match=[matchers.json_params_matcher({"name": "web"}, strict_match=False)],
    )
    start = responses.post(f"{API}/{PIPE}/run", json={"pipeline_run_id": RUN})
    result = invoke("run", "start", "--pipeline", "web")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pipeline_id"] == PIPE
    assert len(start.calls) == 1


def _password_token(monkeypatch: pytest.MonkeyPatch, *tokens: str) -> str:
    _use_password(monkeypatch)
    login = "https://iam.cn-north-4.myhuaweicloud.com/v3/auth/tokens"
    for token in tokens:
        responses.post(login, status=201, headers={"X-Subject-Token": token})
    return login


EXPIRED = {"error_code": "APIGW.0307", "error_msg": "The token must be updated."}


@responses.activate(registry=registries.OrderedRegistry)
def test_an_expired_token_is_renewed_and_the_request_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_password(monkeypatch)
    login = "https://iam.cn-north-4.myhuaweicloud.com/v3/auth/tokens"

    def with_token(token: str) -> Any:
        return [matchers.header_matcher({"X-Auth-Token": token})]

    stop = f"{API}/{PIPE}/pipeline-runs/{RUN}/stop"
    responses.post(login, status=201, headers={"X-Subject-Token": "T1"})
    responses.get(DETAIL, json=run_detail("RUNNING"), match=with_token("T1"))  # T1 works
    responses.post(stop, status=401, json=EXPIRED, match=with_token("T1"))  # then expires
    responses.post(login, status=201, headers={"X-Subject-Token": "T2"})
    responses.post(stop, json={"success": True}, match=with_token("T2"))  # the same request again
    responses.get(DETAIL, status=401, json=EXPIRED, match=with_token("T2"))  # and T2 expires too
    responses.post(login, status=201, headers={"X-Subject-Token": "T3"})
    responses.get(DETAIL, json=run_detail("CANCELED"), match=with_token("T3"))
    client = codearts.CodeArtsClient(EP, PROJECT, codearts.credentials_from_env(dict(os.environ)))
    assert client.get_run(PIPE, RUN)["status"] == "RUNNING"
    assert client.stop_run(PIPE, RUN) == {"success": True}
    assert client.get_run(PIPE, RUN)["status"] == "CANCELED"
    assert len(responses.calls) == 8
    # Signing in again sends IAM the password only, never the token that just expired.
    logins = [c.request for c in responses.calls if c.request.url == login]
    assert len(logins) == 3 and not [r for r in logins if "X-Auth-Token" in r.headers]


@responses.activate(registry=registries.OrderedRegistry)
def test_a_token_refused_at_once_is_not_renewed(monkeypatch: pytest.MonkeyPatch) -> None:
    login = _password_token(monkeypatch, "T1")
    responses.get(DETAIL, status=401, json=EXPIRED)
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: CodeArts refused the token IAM had just issued (HTTP 401): check the user's permissions: "
        f"The token must be updated. (401, GET {DETAIL})\n"
    )
    assert len([c for c in responses.calls if c.request.url == login]) == 1


@responses.activate
def test_a_static_token_refused_is_never_renewed() -> None:
    responses.get(DETAIL, status=401, json=EXPIRED)
    result = invoke("run", "get", "--pipeline-id", PIPE, "--run-id", RUN)
    assert result.exit_code == 1
    assert "check CODEARTS_TOKEN or the access key pair" in result.stderr
    assert len(responses.calls) == 1


def test_template_create_offers_no_cancel_option_it_could_not_honour() -> None:
    result = invoke("template", "create", "--help")
    assert "--cancel-on-timeout" not in result.stdout and "--timeout" in result.stdout
    refused = invoke("template", "create", "--file", "t.json", "--wait", "--cancel-on-timeout")
    assert refused.exit_code == 2
    assert "No such option: --cancel-on-timeout" in refused.stderr


@responses.activate
def test_run_start_prints_the_ids_at_the_same_keys_with_and_without_wait(no_sleep: list) -> None:
    responses.post(f"{API}/{PIPE}/run", json={"pipeline_run_id": RUN})
    responses.post(f"{API}/{PIPE}/run", json={"pipeline_run_id": RUN})
    responses.get(DETAIL, json=run_detail("COMPLETED"))
    plain = json.loads(invoke("run", "start", "--pipeline-id", PIPE).stdout)
    waited = json.loads(invoke("run", "start", "--pipeline-id", PIPE, "--wait").stdout)
    assert (plain["pipeline_id"], plain["pipeline_run_id"]) == (PIPE, RUN)
    assert (waited["pipeline_id"], waited["pipeline_run_id"]) == (PIPE, RUN)  # and the run's own fields beside
    assert waited["status"] == "COMPLETED"
