"""scripts/port.py with Port's HTTP mocked by `responses`: every command, option and error path."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses
from click.testing import Result
from responses import matchers, registries

from cirelay.emulators import port as fakeport
from tests.conftest import cli_runner, github_outputs, load_script

port = load_script("port")

BASE = "https://port.test"
API = f"{BASE}/v1"
SECRET = "s3cr3t-value-never-printed"
CLIENT = "client-id-42"
TOKEN = "tok-AAA"
TOKEN_URL = f"{API}/auth/access_token"


@pytest.fixture(autouse=True)
def ci_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean CI step: credentials and base URL set, token cache in a private RUNNER_TEMP."""
    for key in list(os.environ):
        if key.startswith(("PORT_", "GITHUB_", "CIRCLE", "RUNNER_", "CIRELAY_")) or key == "CI":
            monkeypatch.delenv(key)
    monkeypatch.setenv("PORT_CLIENT_ID", CLIENT)
    monkeypatch.setenv("PORT_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("PORT_BASE_URL", BASE)
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    return tmp_path


def fits_the_contract(calls: Any) -> None:
    """Every request the client sent fits Port's published spec (src/cirelay/emulators/contracts/port-openapi.json)."""
    contract = fakeport.contract()
    problems = []
    for call in calls:
        url = urlsplit(call.request.url)
        if not url.path.startswith("/v1/"):
            continue
        found = contract.match(call.request.method, url.path)
        if found is None:
            problems.append(f"{call.request.method} {url.path} is no operation of the contract")
            continue
        operation, params = found
        body = call.request.body or b""
        body = body.encode() if isinstance(body, str) else body
        query = parse_qs(url.query, keep_blank_values=True)
        params = {k: unquote(v) for k, v in params.items()}
        problems += contract.check_request(operation, params, query, body)
    assert problems == []


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps
        fits_the_contract(rsps.calls)


@pytest.fixture
def ordered() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True, registry=registries.OrderedRegistry) as rsps:
        yield rsps
        fits_the_contract(rsps.calls)


def invoke(*args: str, input: Optional[str] = None, env: Optional[Dict[str, Optional[str]]] = None) -> Result:
    result = cli_runner().invoke(port.cli, list(args), input=input, env=env, catch_exceptions=False)
    assert SECRET not in result.stdout + result.stderr
    return result


def add_token(rsps: responses.RequestsMock, token: str = TOKEN, expires_in: int = 10800, url: str = TOKEN_URL) -> None:
    rsps.post(
        url,
        json={"ok": True, "accessToken": token, "expiresIn": expires_in, "tokenType": "Bearer"},
        match=[matchers.json_params_matcher({"clientId": CLIENT, "clientSecret": SECRET})],
    )


def bearer(token: str = TOKEN) -> Any:
    return matchers.header_matcher({"Authorization": f"Bearer {token}"})


def entity(identifier: str, **props: Any) -> Dict[str, Any]:
    return {"identifier": identifier, "blueprint": "microservice", "properties": props}


# -- token, base URL, region ------------------------------------------------------------------


@pytest.mark.parametrize("base", [BASE, f"{BASE}/", f"{BASE}/v1", f"{BASE}/v1/"])
def test_base_url_with_or_without_v1(mock: responses.RequestsMock, base: str) -> None:
    add_token(mock)
    mock.get(f"{API}/blueprints/microservice/entities/payments", json={"ok": True, "entity": entity("payments")})
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments", env={"PORT_BASE_URL": base})
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("region", "host"),
    [(None, "https://api.port.io"), ("eu", "https://api.port.io"), ("US", "https://api.us.port.io")],
)
def test_region_picks_the_base_url(mock: responses.RequestsMock, region: Optional[str], host: str) -> None:
    add_token(mock, url=f"{host}/v1/auth/access_token")
    mock.get(f"{host}/v1/blueprints/microservice/entities/payments", json={"ok": True, "entity": entity("payments")})
    result = invoke(
        "entity", "get", "-b", "microservice", "-i", "payments", env={"PORT_BASE_URL": None, "PORT_REGION": region}
    )
    assert result.exit_code == 0, result.stderr


def test_missing_credentials_exit_2_naming_the_variable() -> None:
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments", env={"PORT_CLIENT_ID": None})
    assert result.exit_code == 2
    assert "Error: missing --client-id: pass it or set PORT_CLIENT_ID" in result.stderr
    # The secret has no option to pass it by (argv shows in `ps` and CI logs): the message says where it goes.
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments", env={"PORT_CLIENT_SECRET": None})
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: missing the Port client secret: set PORT_CLIENT_SECRET in the step's environment (a CI secret), "
        "or give --client-secret-file"
    )


def test_the_secret_is_never_an_option() -> None:
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments", "--client-secret", "s3")
    assert result.exit_code == 2
    assert "No such option: --client-secret" in result.stderr
    assert "s3" not in result.stderr.replace("--client-secret", "")


def test_credentials_from_options(mock: responses.RequestsMock, tmp_path: Path) -> None:
    secret_file = tmp_path / "port-secret"
    secret_file.write_text("opt-secret\n")
    mock.post(
        TOKEN_URL,
        json={"accessToken": TOKEN, "expiresIn": 60},
        match=[matchers.json_params_matcher({"clientId": "opt-id", "clientSecret": "opt-secret"})],
    )
    mock.get(
        f"{API}/blueprints/microservice/entities/payments",
        json={"ok": True, "entity": entity("payments")},
        match=[bearer()],
    )
    result = invoke(
        "entity",
        "get",
        "-b",
        "microservice",
        "-i",
        "payments",
        "--client-id",
        "opt-id",
        "--client-secret-file",
        str(secret_file),
        env={"PORT_CLIENT_ID": None, "PORT_CLIENT_SECRET": None},
    )
    assert result.exit_code == 0, result.stderr
    assert "opt-secret" not in result.stdout + result.stderr


def test_token_rejected_names_the_variables_not_their_values(mock: responses.RequestsMock, ci_env: Path) -> None:
    mock.post(
        TOKEN_URL, status=401, json={"ok": False, "error": "unauthorized", "message": "Invalid client credentials"}
    )
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: Port rejected PORT_CLIENT_ID/PORT_CLIENT_SECRET: Invalid client credentials (401, POST {TOKEN_URL})\n"
    )
    assert CLIENT not in result.stderr
    assert not list(ci_env.glob("cirelay-port-token-*"))


def test_token_unfit_for_a_header_is_refused_without_showing_it(mock: responses.RequestsMock) -> None:
    add_token(mock, token="tok-hidden\nrest")
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Port sent an accessToken with characters a header cannot carry (not shown; POST {TOKEN_URL})\n"
    )
    assert "tok-hidden" not in result.stdout + result.stderr


def test_secret_and_token_quoted_back_by_the_server_are_blanked(ordered: responses.RequestsMock) -> None:
    ordered.post(TOKEN_URL, status=400, body=f'bad request: {{"clientId":"{CLIENT}","clientSecret":"{SECRET}"}}')
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments")  # invoke asserts SECRET is not shown
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        f'Error: bad request: {{"clientId":"{CLIENT}","clientSecret":"***"}}'
    )
    add_token(ordered)
    ordered.get(f"{API}/blueprints/microservice/entities/payments", status=403, json={"message": f"{TOKEN} may not"})
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments")
    assert result.exit_code == 1
    assert TOKEN not in result.stderr
    assert "*** may not" in result.stderr


def test_base_url_without_a_scheme_is_exit_2() -> None:
    with responses.RequestsMock():
        result = invoke("entity", "get", "-b", "microservice", "-i", "payments", env={"PORT_BASE_URL": "port.test"})
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: --base-url (PORT_BASE_URL) must start with https:// or http://, got 'port.test'"
    )


def test_ca_bundle_variable_naming_a_missing_file_is_exit_2() -> None:
    with responses.RequestsMock():
        result = invoke(
            "entity", "get", "-b", "microservice", "-i", "payments", env={"REQUESTS_CA_BUNDLE": "/no/such/ca.pem"}
        )
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: REQUESTS_CA_BUNDLE names /no/such/ca.pem, which does not exist"


def test_token_masked_in_github_actions(mock: responses.RequestsMock) -> None:
    add_token(mock)
    mock.get(
        f"{API}/blueprints/microservice/entities/payments",
        json={"ok": True, "entity": entity("payments")},
        match=[bearer()],
    )
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments", env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 0
    assert f"::add-mask::{TOKEN}" in result.stderr
    assert TOKEN not in result.stdout


def cache_files(folder: Path) -> List[Path]:
    return sorted(folder.glob("cirelay-port-token-*.json"))


def test_token_cached_for_the_next_step_in_a_private_file(mock: responses.RequestsMock, ci_env: Path) -> None:
    add_token(mock)  # registered once: the second step must not ask again
    url = f"{API}/blueprints/microservice/entities/payments"
    mock.get(url, json={"ok": True, "entity": entity("payments")}, match=[bearer()])
    assert invoke("entity", "get", "-b", "microservice", "-i", "payments").exit_code == 0
    (cached,) = cache_files(ci_env)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    data = json.loads(cached.read_text())
    assert data["accessToken"] == TOKEN
    assert time.time() + 10800 - 300 - 5 < data["expiresAt"] <= time.time() + 10800 - 300
    assert invoke("entity", "get", "-b", "microservice", "-i", "payments").exit_code == 0
    assert [c.request.url for c in mock.calls].count(TOKEN_URL) == 1


def test_token_cache_keyed_by_base_url_and_client(mock: responses.RequestsMock, ci_env: Path) -> None:
    add_token(mock)
    add_token(mock, token="tok-other", url="https://other.test/v1/auth/access_token")
    mock.get(f"{API}/blueprints/microservice/entities/payments", json={"ok": True, "entity": entity("payments")})
    mock.get(
        "https://other.test/v1/blueprints/microservice/entities/payments",
        json={"ok": True, "entity": entity("payments")},
        match=[bearer("tok-other")],
    )
    assert invoke("entity", "get", "-b", "microservice", "-i", "payments").exit_code == 0
    assert (
        invoke(
            "entity", "get", "-b", "microservice", "-i", "payments", env={"PORT_BASE_URL": "https://other.test"}
        ).exit_code
        == 0
    )
    assert len(cache_files(ci_env)) == 2


def test_expired_cached_token_is_not_used(mock: responses.RequestsMock, ci_env: Path) -> None:
    cache = port.TokenCache(f"{API}", CLIENT, SECRET, str(ci_env))
    cache.save("tok-old", 3600)
    Path(cache.path).write_text(json.dumps({"accessToken": "tok-old", "expiresAt": time.time() - 1}))
    add_token(mock)
    mock.get(
        f"{API}/blueprints/microservice/entities/payments",
        json={"ok": True, "entity": entity("payments")},
        match=[bearer()],
    )
    assert invoke("entity", "get", "-b", "microservice", "-i", "payments").exit_code == 0
    assert json.loads(Path(cache.path).read_text())["accessToken"] == TOKEN


def test_cache_file_readable_by_others_is_ignored(mock: responses.RequestsMock, ci_env: Path) -> None:
    cache = port.TokenCache(f"{API}", CLIENT, SECRET, str(ci_env))
    cache.save("tok-planted", 3600)
    os.chmod(cache.path, 0o644)
    add_token(mock)
    mock.get(
        f"{API}/blueprints/microservice/entities/payments",
        json={"ok": True, "entity": entity("payments")},
        match=[bearer()],
    )
    assert invoke("entity", "get", "-b", "microservice", "-i", "payments").exit_code == 0


@pytest.mark.parametrize("switch", [["--no-token-cache"], []])
def test_token_cache_can_be_turned_off(mock: responses.RequestsMock, ci_env: Path, switch: List[str]) -> None:
    add_token(mock)
    mock.get(f"{API}/blueprints/microservice/entities/payments", json={"ok": True, "entity": entity("payments")})
    env = {} if switch else {"PORT_TOKEN_CACHE": "0"}
    assert invoke("entity", "get", "-b", "microservice", "-i", "payments", *switch, env=env).exit_code == 0
    assert cache_files(ci_env) == []


def test_401_on_cached_token_fetches_a_new_one_and_retries(ordered: responses.RequestsMock, ci_env: Path) -> None:
    cache = port.TokenCache(f"{API}", CLIENT, SECRET, str(ci_env))
    cache.save("tok-stale", 3600)
    url = f"{API}/blueprints/microservice/entities/payments"
    ordered.get(url, status=401, json={"ok": False, "message": "token expired"}, match=[bearer("tok-stale")])
    add_token(ordered, token="tok-new")
    ordered.get(url, json={"ok": True, "entity": entity("payments")}, match=[bearer("tok-new")])
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments")
    assert result.exit_code == 0, result.stderr
    assert "Port refused the access token (401); fetching a new one" in result.stderr
    assert json.loads(Path(cache.path).read_text())["accessToken"] == "tok-new"


def test_401_after_a_fresh_token_is_not_retried_again(ordered: responses.RequestsMock) -> None:
    url = f"{API}/blueprints/microservice/entities/payments"
    add_token(ordered)
    ordered.get(url, status=401, json={"message": "nope"})
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments")
    assert result.exit_code == 1
    # A token refused on its first use is not expired: no second token, no loop (issue 14).
    assert result.stderr == (
        "Error: Port refused a new access token on its first use (401): PORT_CLIENT_ID/PORT_CLIENT_SECRET get a "
        f"token but it does not work here; check the region/base URL ({API}): authentication failed (HTTP 401): "
        f"check the credentials: nope (401, GET {url})\n"
    )


def test_a_token_that_worked_is_renewed_every_time_it_expires(ordered: responses.RequestsMock) -> None:
    url = f"{API}/blueprints/microservice/entities/payments"
    add_token(ordered)
    ordered.get(url, json={"ok": True, "entity": entity("payments")})
    for n in (2, 3):
        ordered.get(url, status=401, json={"message": "expired"})
        add_token(ordered, token=f"tok-{n}")
        ordered.get(url, json={"ok": True, "entity": entity("payments")})
    client = port.PortClient(CLIENT, SECRET, base_url=BASE, token_cache=False)
    for _ in range(3):
        assert client.get_entity("microservice", "payments")["identifier"] == "payments"
    assert [c.request.headers.get("Authorization") for c in ordered.calls if c.request.method == "GET"] == [
        "Bearer tok-AAA",
        "Bearer tok-AAA",
        "Bearer tok-2",
        "Bearer tok-2",
        "Bearer tok-3",
    ]


# -- entity upsert ---------------------------------------------------------------------------


def test_upsert_merges_and_writes_outputs(mock: responses.RequestsMock, ci_env: Path) -> None:
    add_token(mock)
    body = {
        "identifier": "payments",
        "title": "Payments",
        "icon": "Microservice",
        "team": ["platform", "sre"],
        "properties": {"version": "1.4.2"},
        "relations": {"domain": "billing"},
    }
    returned = {**body, "blueprint": "microservice"}
    mock.post(
        f"{API}/blueprints/microservice/entities",
        status=201,
        json={"ok": True, "entity": returned},
        match=[
            bearer(),
            matchers.query_param_matcher({"upsert": "true", "merge": "true"}),
            matchers.json_params_matcher(body),
        ],
    )
    out, summary = ci_env / "out", ci_env / "summary"
    result = invoke(
        "entity",
        "upsert",
        "-b",
        "microservice",
        "-i",
        "payments",
        "--title",
        "Payments",
        "--icon",
        "Microservice",
        "--team",
        "platform",
        "--team",
        "sre",
        "--properties",
        '{"version": "1.4.2"}',
        "--relations",
        '{"domain": "billing"}',
        env={"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == returned
    written = github_outputs(out)
    assert written["identifier"] == "payments"
    assert json.loads(written["entity"]) == returned
    assert json.loads(written["result"]) == returned
    assert "- **identifier**: payments\n" in summary.read_text()


def test_upsert_replace_and_flags_and_run_id_from_env(mock: responses.RequestsMock) -> None:
    add_token(mock)
    mock.post(
        f"{API}/blueprints/micro%20service/entities",
        status=201,
        json={"ok": True, "entity": entity("x")},
        match=[
            matchers.query_param_matcher(
                {
                    "upsert": "true",
                    "merge": "false",
                    "create_missing_related_entities": "true",
                    "validation_only": "true",
                    "run_id": "r_env",
                }
            ),
            matchers.json_params_matcher({"identifier": "x"}),
        ],
    )
    result = invoke(
        "entity",
        "upsert",
        "-b",
        "micro service",
        "-i",
        "x",
        "--replace",
        "--create-missing-related",
        "--validate-only",
        env={"PORT_RUN_ID": "r_env"},
    )
    assert result.exit_code == 0, result.stderr


def test_upsert_is_retried_through_503_and_429(ordered: responses.RequestsMock, no_sleep: list) -> None:
    add_token(ordered)
    url = f"{API}/blueprints/microservice/entities"
    ordered.post(url, status=503, json={"message": "busy"})
    ordered.post(url, status=429, headers={"Retry-After": "2"}, json={"message": "slow down"})
    ordered.post(url, status=201, json={"ok": True, "entity": entity("x")})
    result = invoke("entity", "upsert", "-b", "microservice", "-i", "x", "--run-id", "r_1")
    assert result.exit_code == 0, result.stderr
    assert len(ordered.calls) == 4


def test_upsert_unknown_blueprint(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/blueprints/nope/entities"
    mock.post(url, status=404, json={"ok": False, "error": "not_found", "message": "Blueprint nope was not found"})
    result = invoke("entity", "upsert", "-b", "nope", "-i", "x")
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: blueprint nope not found: Blueprint nope was not found (404, POST {url}?upsert=true&merge=true)\n"
    )


def test_upsert_bad_properties_json_exit_2() -> None:
    result = invoke("entity", "upsert", "-b", "microservice", "-i", "x", "--properties", '{"a": }')
    assert result.exit_code == 2
    assert (
        "Invalid value for '--properties': the value is not valid JSON: Expecting value at line 1 column 7"
        in result.stderr
    )


# -- entity get / search / delete ------------------------------------------------------------


def test_get_encodes_the_identifier_and_passes_include_exclude(mock: responses.RequestsMock) -> None:
    add_token(mock)
    mock.get(
        f"{API}/blueprints/microservice/entities/team%2Fsvc%20one",
        json={"ok": True, "entity": {"identifier": "team/svc one"}},
        match=[matchers.query_param_matcher({"include": ["identifier", "properties.version"], "exclude": "relations"})],
    )
    result = invoke(
        "entity",
        "get",
        "-b",
        "microservice",
        "-i",
        "team/svc one",
        "--include",
        "identifier",
        "--include",
        "properties.version",
        "--exclude",
        "relations",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"identifier": "team/svc one"}


def test_get_404_says_which_entity_and_blueprint(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/blueprints/microservice/entities/ghost"
    mock.get(
        url, status=404, json={"ok": False, "error": "not_found", "message": 'Entity with identifier "ghost" not found'}
    )
    result = invoke("entity", "get", "-b", "microservice", "-i", "ghost")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: entity ghost not found in blueprint microservice: "
        f'Entity with identifier "ghost" not found (404, GET {url})\n'
    )


QUERY = {"combinator": "and", "rules": [{"property": "region", "operator": "=", "value": "eu"}]}


def test_search_blueprint_follows_next(mock: responses.RequestsMock, ci_env: Path) -> None:
    add_token(mock)
    url = f"{API}/blueprints/microservice/entities/search"
    mock.post(
        url,
        json={"ok": True, "entities": [{"identifier": "a"}, {"identifier": "b"}], "next": "cursor-2"},
        match=[matchers.json_params_matcher({"query": QUERY, "limit": 200, "include": ["$identifier"]})],
    )
    mock.post(
        url,
        json={"ok": True, "entities": [{"identifier": "c"}]},
        match=[
            matchers.json_params_matcher({"query": QUERY, "limit": 200, "include": ["$identifier"], "from": "cursor-2"})
        ],
    )
    out = ci_env / "out"
    result = invoke(
        "entity",
        "search",
        "-b",
        "microservice",
        "--query",
        json.dumps(QUERY),
        "--include",
        "identifier",
        env={"GITHUB_OUTPUT": str(out)},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"identifier": "a"}, {"identifier": "b"}, {"identifier": "c"}]
    assert json.loads(github_outputs(out)["identifiers"]) == ["a", "b", "c"]


def test_search_limit_stops_paging(mock: responses.RequestsMock) -> None:
    add_token(mock)
    mock.post(
        f"{API}/blueprints/microservice/entities/search",
        json={"ok": True, "entities": [{"identifier": "a"}, {"identifier": "b"}], "next": "more"},
        match=[matchers.json_params_matcher({"query": QUERY, "limit": 2})],
    )
    result = invoke("entity", "search", "-b", "microservice", "--query", json.dumps(QUERY), "--limit", "2")
    assert result.exit_code == 0, result.stderr
    assert [e["identifier"] for e in json.loads(result.stdout)] == ["a", "b"]


def test_search_across_blueprints(mock: responses.RequestsMock, tmp_path: Path) -> None:
    add_token(mock)
    mock.post(
        f"{API}/entities/search",
        json={
            "ok": True,
            "matchingBlueprints": ["a", "b"],
            "entities": [{"identifier": "x"}, {"identifier": "y"}, {"identifier": "z"}],
        },
        match=[matchers.json_params_matcher(QUERY), matchers.query_param_matcher({"include": "identifier"})],
    )
    query_file = tmp_path / "q.json"
    query_file.write_text(json.dumps(QUERY))
    result = invoke("entity", "search", "--query", f"@{query_file}", "--include", "identifier", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"identifier": "x"}, {"identifier": "y"}]


def test_search_query_must_be_an_object() -> None:
    result = invoke("entity", "search", "--query", "[1]")
    assert result.exit_code == 2
    assert "Invalid value for '--query': expected a JSON object, got list" in result.stderr


def test_delete_with_dependents_and_run_id(mock: responses.RequestsMock, ci_env: Path) -> None:
    add_token(mock)
    mock.delete(
        f"{API}/blueprints/microservice/entities/payments",
        json={"ok": True},
        match=[matchers.query_param_matcher({"delete_dependents": "true", "run_id": "r_9"})],
    )
    out = ci_env / "out"
    result = invoke(
        "entity",
        "delete",
        "-b",
        "microservice",
        "-i",
        "payments",
        "--delete-dependents",
        "--run-id",
        "r_9",
        env={"GITHUB_OUTPUT": str(out)},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "ok": True,
        "blueprint": "microservice",
        "identifier": "payments",
        "deleted": True,
    }
    assert github_outputs(out)["identifier"] == "payments"


def test_delete_404(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/blueprints/microservice/entities/ghost?delete_dependents=false"  # always sent: the spec requires it
    mock.delete(url, status=404, json={"ok": False, "message": "not here"})
    result = invoke("entity", "delete", "-b", "microservice", "-i", "ghost")
    assert result.exit_code == 1
    assert result.stderr == f"Error: entity ghost not found in blueprint microservice: not here (404, DELETE {url})\n"


# -- entity bulk-upsert ----------------------------------------------------------------------

BULK_URL = f"{API}/blueprints/microservice/entities/bulk"


class BulkPort:
    """A responses callback acting like Port's bulk route; records every batch it saw."""

    def __init__(
        self, reject: Optional[set] = None, too_large_above: Optional[int] = None, silent: Optional[set] = None
    ):
        self.reject = reject or set()
        self.too_large_above = too_large_above
        self.silent = silent or set()
        self.batches: List[List[str]] = []
        self.sizes: List[int] = []

    def __call__(self, request: Any) -> Any:
        raw = request.body if isinstance(request.body, bytes) else request.body.encode()
        items = json.loads(raw)["entities"]
        ids = [item["identifier"] for item in items]
        self.batches.append(ids)
        self.sizes.append(len(raw))
        if self.too_large_above is not None and len(items) > self.too_large_above:
            return (
                413,
                {},
                json.dumps({"ok": False, "error": "request_too_large", "message": "Request body is too large"}),
            )
        done = [
            {"identifier": i, "index": n, "created": True}
            for n, i in enumerate(ids)
            if i not in self.reject | self.silent
        ]
        errors = [
            {"identifier": i, "index": n, "statusCode": 422, "error": "invalid_request", "message": f"{i} is invalid"}
            for n, i in enumerate(ids)
            if i in self.reject
        ]
        return (207 if errors else 200, {}, json.dumps({"ok": not errors, "entities": done, "errors": errors}))


def write_entities(path: Path, ids: List[str], ndjson: bool = False, pad: int = 0) -> Path:
    items = [{"identifier": i, "properties": {"n": n, "pad": "x" * pad}} for n, i in enumerate(ids)]
    path.write_text("\n".join(json.dumps(i) for i in items) if ndjson else json.dumps(items))
    return path


def test_bulk_batches_of_20_partial_failure_maps_indexes(mock: responses.RequestsMock, tmp_path: Path) -> None:
    add_token(mock)
    ids = [f"svc-{n:02d}" for n in range(45)]
    fake = BulkPort(reject={"svc-23", "svc-44"})
    mock.add_callback(
        responses.POST,
        BULK_URL,
        callback=fake,
        match=[matchers.query_param_matcher({"upsert": "true", "merge": "true"})],
    )
    out = tmp_path / "out"
    result = invoke(
        "entity",
        "bulk-upsert",
        "-b",
        "microservice",
        "--file",
        str(write_entities(tmp_path / "e.json", ids)),
        env={"GITHUB_OUTPUT": str(out)},
    )
    assert result.exit_code == 1
    assert sorted(len(b) for b in fake.batches) == [5, 20, 20]
    body = json.loads(result.stdout)
    assert body["failed"] == [
        {"index": 23, "identifier": "svc-23", "error": "invalid_request", "message": "svc-23 is invalid"},
        {"index": 44, "identifier": "svc-44", "error": "invalid_request", "message": "svc-44 is invalid"},
    ]
    assert body["upserted"] == [i for i in ids if i not in ("svc-23", "svc-44")]
    assert "upserted 43 of 45 entities into microservice; 2 failed" in result.stderr
    assert result.stderr.endswith(
        "Error: 2 of 45 entities were not upserted (first: item 24, svc-23: svc-23 is invalid)\n"
    )
    assert json.loads(github_outputs(out)["identifiers"]) == body["upserted"]


def test_bulk_all_good_exit_0_ndjson_from_stdin(mock: responses.RequestsMock) -> None:
    add_token(mock)
    fake = BulkPort()
    mock.add_callback(
        responses.POST,
        BULK_URL,
        callback=fake,
        match=[matchers.query_param_matcher({"upsert": "true", "merge": "true", "run_id": "r_5"})],
    )
    lines = "\n".join(json.dumps({"identifier": f"e{n}"}) for n in range(3)) + "\n\n"
    result = invoke("entity", "bulk-upsert", "-b", "microservice", "--file", "-", "--run-id", "r_5", input=lines)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"upserted": ["e0", "e1", "e2"], "failed": [], "not_attempted": []}


def test_bulk_413_splits_the_batch(mock: responses.RequestsMock, tmp_path: Path) -> None:
    add_token(mock)
    fake = BulkPort(too_large_above=6)
    mock.add_callback(responses.POST, BULK_URL, callback=fake)
    ids = [f"e{n}" for n in range(20)]
    result = invoke(
        "entity", "bulk-upsert", "-b", "microservice", "--file", str(write_entities(tmp_path / "e.json", ids))
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["upserted"] == ids
    # 20 -> 413, 10 + 10 -> 413, then four batches of 5
    assert [len(b) for b in fake.batches].count(5) == 4
    assert len(fake.batches) == 7


def test_bulk_keeps_every_request_under_1_mib(mock: responses.RequestsMock, tmp_path: Path) -> None:
    add_token(mock)
    fake = BulkPort()
    mock.add_callback(responses.POST, BULK_URL, callback=fake)
    ids = [f"big{n}" for n in range(7)]
    path = write_entities(tmp_path / "e.ndjson", ids, ndjson=True, pad=300_000)
    result = invoke("entity", "bulk-upsert", "-b", "microservice", "--file", str(path), "--concurrency", "2")
    assert result.exit_code == 0, result.stderr
    assert max(fake.sizes) <= 1024 * 1024
    assert sorted(len(b) for b in fake.batches) == [1, 3, 3]


def test_bulk_entity_over_1_mib_fails_alone_without_a_request(mock: responses.RequestsMock, tmp_path: Path) -> None:
    add_token(mock)
    fake = BulkPort()
    mock.add_callback(responses.POST, BULK_URL, callback=fake)
    items = [
        {"identifier": "ok1"},
        {"identifier": "huge", "properties": {"blob": "x" * (1024 * 1024)}},
        {"identifier": "ok2"},
    ]
    path = tmp_path / "e.json"
    path.write_text(json.dumps(items))
    result = invoke("entity", "bulk-upsert", "-b", "microservice", "--file", str(path))
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["upserted"] == ["ok1", "ok2"]
    assert [(f["index"], f["identifier"], f["error"]) for f in body["failed"]] == [(1, "huge", "too_large")]
    assert fake.batches == [["ok1", "ok2"]]


def test_bulk_failed_batch_fails_its_entities_only(
    ordered: responses.RequestsMock, tmp_path: Path, no_sleep: list
) -> None:
    add_token(ordered)
    fake = BulkPort()
    for _ in range(5):  # the first batch: 500 on all five attempts
        ordered.post(BULK_URL, status=500, json={"ok": False, "message": "internal error"})
    ordered.add_callback(responses.POST, BULK_URL, callback=fake)
    ids = [f"e{n:02d}" for n in range(25)]
    result = invoke(
        "entity",
        "bulk-upsert",
        "-b",
        "microservice",
        "--file",
        str(write_entities(tmp_path / "e.json", ids)),
        "--concurrency",
        "1",
    )
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["upserted"] == ids[20:]
    assert [f["index"] for f in body["failed"]] == list(range(20))
    assert {f["error"] for f in body["failed"]} == {"http_500"}
    assert {f["message"] for f in body["failed"]} == {"internal error"}


def test_bulk_entity_missing_from_the_reply_counts_as_failed(mock: responses.RequestsMock, tmp_path: Path) -> None:
    add_token(mock)
    mock.add_callback(responses.POST, BULK_URL, callback=BulkPort(silent={"b"}))
    result = invoke(
        "entity",
        "bulk-upsert",
        "-b",
        "microservice",
        "--file",
        str(write_entities(tmp_path / "e.json", ["a", "b", "c"])),
    )
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body == {
        "upserted": ["a", "c"],
        "failed": [
            {
                "index": 1,
                "identifier": "b",
                "error": "unreported",
                "message": "Port's reply did not mention this entity",
            }
        ],
        "not_attempted": [],
    }


def test_bulk_empty_file_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text("[]")
    result = invoke("entity", "bulk-upsert", "-b", "microservice", "--file", str(path), "--no-token-cache")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"upserted": [], "failed": [], "not_attempted": []}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"identifier": "a"}\n{"identifier": }\n',
            "{f} line 2 is not valid JSON: Expecting value at line 1 column 16",
        ),
        # items are counted from 1, as lines are (issue 16): the second item is item 2
        ('[{"identifier": "a"}, {"title": "no id"}]', "item 2 of {f} is not an entity object with a string identifier"),
        ("[1, 2]", "item 1 of {f} is not an entity object with a string identifier"),
        ('{"identifier": "a"}\n\n[3]\n', "{f} line 3 is not an entity object with a string identifier"),
        ('[{"identifier": "a"}', "{f} is not valid JSON: Expecting ',' delimiter at line 1 column 21"),
    ],
)
def test_bulk_bad_file_exit_2_before_sending(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "e.txt"
    path.write_text(content)
    result = invoke("entity", "bulk-upsert", "-b", "microservice", "--file", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.endswith(f"Error: Invalid value for '--file': {message.format(f=path)}\n")


def test_bulk_missing_file_exit_2(tmp_path: Path) -> None:
    result = invoke("entity", "bulk-upsert", "-b", "microservice", "--file", str(tmp_path / "none.json"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr and "No such file or directory" in result.stderr


@pytest.mark.parametrize("from_stdin", [False, True], ids=["file", "stdin"])
def test_bulk_file_not_utf8_exit_2(tmp_path: Path, from_stdin: bool) -> None:
    data = b'\xff\xfe[{"identifier": "a"}]'
    path = tmp_path / "entities.json"
    path.write_bytes(data)
    with responses.RequestsMock():
        result = cli_runner().invoke(
            port.cli,
            ["entity", "bulk-upsert", "-b", "microservice", "--file", "-" if from_stdin else str(path)],
            input=data if from_stdin else None,
        )
    source = "stdin" if from_stdin else str(path)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--file': {source} is not UTF-8 text: invalid start byte at byte 0"
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["entity", "get", "-b", "microservice", "-i", ""], "'-i' / '--identifier'"),
        (["entity", "delete", "-b", "microservice", "-i", " "], "'-i' / '--identifier'"),
        (["entity", "upsert", "-b", "", "-i", "payments"], "'-b' / '--blueprint'"),
        (["entity", "search", "-b", "", "--query", "{}"], "'-b' / '--blueprint'"),
        (["entity", "bulk-upsert", "-b", "", "--file", "-"], "'-b' / '--blueprint'"),
        (["run", "create", "--action", ""], "'--action'"),
    ],
    ids=["get", "delete", "upsert", "search", "bulk", "run-create"],
)
def test_empty_identifier_is_exit_2_before_any_request(args: List[str], option: str) -> None:
    with responses.RequestsMock():  # an empty path segment would reach another route (all entities)
        result = invoke(*args, input="")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for {option}: must not be empty"


def test_run_log_empty_message_is_exit_2() -> None:
    with responses.RequestsMock():
        result = invoke("run", "log", "r_1", "")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: MESSAGE must not be empty"


# -- ci report -------------------------------------------------------------------------------

CIRCLE = {
    "CIRCLECI": "true",
    "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/shop/812",
    "CIRCLE_JOB": "build",
    "CIRCLE_WORKFLOW_ID": "6f1c-wf",
    "CIRCLE_SHA1": "abc123",
    "CIRCLE_BRANCH": "main",
    "CIRCLE_USERNAME": "ada",
    "CIRCLE_PROJECT_REPONAME": "shop",
}


def capture_upsert(rsps: responses.RequestsMock, seen: List[Dict[str, Any]], blueprint: str = "ciJob") -> None:
    def reply(request: Any) -> Any:
        body = json.loads(request.body)
        seen.append(body)
        return (201, {}, json.dumps({"ok": True, "entity": {**body, "blueprint": blueprint}}))

    rsps.add_callback(
        responses.POST,
        f"{API}/blueprints/{blueprint}/entities",
        callback=reply,
        match=[matchers.query_param_matcher({"upsert": "true", "merge": "true"})],
    )


def test_ci_report_circleci(mock: responses.RequestsMock, ci_env: Path) -> None:
    add_token(mock)
    seen: List[Dict[str, Any]] = []
    capture_upsert(mock, seen)
    out = ci_env / "out"
    result = invoke(
        "ci", "report", "-b", "ciJob", "--relation", "image=shop:1.2", env={**CIRCLE, "GITHUB_OUTPUT": str(out)}
    )
    assert result.exit_code == 0, result.stderr
    (body,) = seen
    started = body["properties"].pop("startedAt")
    assert started.endswith("Z") and started[:2] == "20"
    assert body == {
        "identifier": "circleci-6f1c-wf-build",
        "title": "shop / build",
        "properties": {
            "provider": "circleci",
            "pipeline": "shop",
            "job": "build",
            "status": "running",
            "url": "https://circleci.com/gh/acme/shop/812",
            "commit": "abc123",
            "branch": "main",
            "triggeredBy": "ada",
        },
        "relations": {"image": "shop:1.2"},
    }
    assert github_outputs(out)["identifier"] == "circleci-6f1c-wf-build"


def test_ci_report_github_tag_with_overrides(mock: responses.RequestsMock) -> None:
    add_token(mock)
    seen: List[Dict[str, Any]] = []
    capture_upsert(mock, seen)
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_RUN_ID": "9911",
        "GITHUB_WORKFLOW": "release",
        "GITHUB_JOB": "publish",
        "GITHUB_SHA": "def456",
        "GITHUB_REF_NAME": "v1.2.0",
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_ACTOR": "grace",
    }
    result = invoke(
        "ci",
        "report",
        "-b",
        "ciJob",
        "--status",
        "success",
        "--identifier",
        "release-9911",
        "--relation",
        "image=a",
        "--relation",
        "image=b",
        "--properties",
        '{"job": "publish-all", "coverage": 91}',
        env=github,
    )
    assert result.exit_code == 0, result.stderr
    (body,) = seen
    assert body["identifier"] == "release-9911"
    assert body["relations"] == {"image": ["a", "b"]}
    props = body["properties"]
    assert props.pop("finishedAt").endswith("Z")
    assert props == {
        "provider": "github",
        "pipeline": "release",
        "job": "publish-all",
        "status": "success",
        "url": "https://github.com/acme/shop/actions/runs/9911",
        "commit": "def456",
        "tag": "v1.2.0",
        "triggeredBy": "grace",
        "coverage": 91,
    }


def test_ci_report_outside_ci_exit_2() -> None:
    result = invoke("ci", "report", "-b", "ciJob")
    assert result.exit_code == 2
    assert (
        "Error: ci report runs inside a CI job: no CircleCI, GitHub Actions, GitLab, Buildkite, Azure Pipelines, "
        "Bitbucket Pipelines, Codefresh or Jenkins variables are set" in result.stderr
    )


# -- action runs -----------------------------------------------------------------------------

RUN = {"id": "r_1", "status": "IN_PROGRESS", "action": "deploy_microservice"}


def test_run_create_body_and_run_id_output(mock: responses.RequestsMock, ci_env: Path) -> None:
    add_token(mock)
    mock.post(
        f"{API}/actions/deploy_microservice/runs",
        status=202,
        json={"ok": True, "run": RUN},
        match=[bearer(), matchers.json_params_matcher({"entity": "payments", "properties": {"environment": "prod"}})],
    )
    out = ci_env / "out"
    result = invoke(
        "run",
        "create",
        "--action",
        "deploy_microservice",
        "--entity",
        "payments",
        "--properties",
        '{"environment": "prod"}',
        env={"GITHUB_OUTPUT": str(out)},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == RUN
    assert github_outputs(out)["run-id"] == "r_1"


def test_run_create_is_never_sent_twice(mock: responses.RequestsMock, no_sleep: list) -> None:
    add_token(mock)
    url = f"{API}/actions/create_microservice/runs"
    mock.post(url, status=503, json={"ok": False, "message": "unavailable"})
    result = invoke("run", "create", "--action", "create_microservice")
    assert result.exit_code == 1
    assert result.stderr == f"Error: unavailable (503, POST {url})\n"
    assert [c.request.url for c in mock.calls].count(url) == 1


@pytest.mark.parametrize("body", [b"", b"[]", b'{"ok": true, "run": null}'])
def test_an_answer_without_the_object_is_an_error_not_a_crash(mock: responses.RequestsMock, body: bytes) -> None:
    add_token(mock)
    url = f"{API}/actions/create_microservice/runs"
    mock.post(url, body=body, content_type="application/json")
    result = invoke("run", "create", "--action", "create_microservice")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: expected a run object from POST {url}, got ")


def test_run_create_unknown_action(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/actions/nope/runs"
    mock.post(
        url,
        status=404,
        json={"ok": False, "message": "Action nope was not found"},
        match=[matchers.json_params_matcher({"properties": {}})],
    )
    result = invoke("run", "create", "--action", "nope")
    assert result.exit_code == 1
    assert result.stderr == f"Error: action nope not found: Action nope was not found (404, POST {url})\n"


@pytest.mark.parametrize(
    ("args", "env"),
    [(["r_1"], {}), ([], {"PORT_RUN_ID": "r_1"}), (["--run-id", "r_1"], {}), (["r_1"], {"PORT_RUN_ID": "r_other"})],
)
def test_run_get_run_id_sources(mock: responses.RequestsMock, args: List[str], env: Dict[str, str]) -> None:
    add_token(mock)
    mock.get(f"{API}/actions/runs/r_1", json={"ok": True, "run": RUN})
    result = invoke("run", "get", *args, env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == RUN


def test_run_get_without_run_id_exit_2() -> None:
    result = invoke("run", "get")
    assert result.exit_code == 2
    assert "Error: missing RUN_ID (or --run-id): pass it or set PORT_RUN_ID" in result.stderr


def test_run_get_404(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/actions/runs/r_x?version=v2"  # "Please use v2" (the spec's version parameter)
    mock.get(url, status=404, json={"ok": False, "message": "not found"})
    result = invoke("run", "get", "r_x")
    assert result.exit_code == 1
    assert result.stderr == f"Error: action run r_x not found: not found (404, GET {url})\n"


def test_run_update_body(mock: responses.RequestsMock) -> None:
    add_token(mock)
    done = {**RUN, "status": "SUCCESS"}
    mock.patch(
        f"{API}/actions/runs/r_1",
        json={"ok": True, "run": done},
        match=[
            matchers.json_params_matcher(
                {
                    "status": "SUCCESS",
                    "statusLabel": "deployed",
                    "link": ["https://ci/1", "https://ci/2"],
                    "summary": "all good",
                    "externalRunId": "812",
                }
            )
        ],
    )
    result = invoke(
        "run",
        "update",
        "--status",
        "success",
        "--status-label",
        "deployed",
        "--link",
        "https://ci/1",
        "--link",
        "https://ci/2",
        "--summary",
        "all good",
        "--external-run-id",
        "812",
        env={"PORT_RUN_ID": "r_1"},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == done


def test_run_update_finished_run_says_so(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/actions/runs/r_1"
    mock.patch(
        url,
        status=422,
        json={"ok": False, "error": "run_exhausted", "message": "Action run already finished execution"},
    )
    # A 422 is also Port's answer to a body outside its schema: "already finished" only after a read says so.
    mock.get(url, json={"ok": True, "run": {**RUN, "id": "r_1", "status": "SUCCESS"}})
    result = invoke("run", "update", "r_1", "--status", "FAILURE")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: action run r_1 has already finished and cannot be changed: the run is SUCCESS; the request was "
        f"refused as invalid (HTTP 422): Action run already finished execution (422, PATCH {url}?version=v2)\n"
    )


def test_run_update_422_of_a_running_run_shows_ports_message(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/actions/runs/r_1"
    mock.patch(url, status=422, json={"ok": False, "error": "invalid_request", "message": "body/link must be array"})
    mock.get(url, json={"ok": True, "run": {**RUN, "id": "r_1"}})
    result = invoke("run", "update", "r_1", "--status", "FAILURE")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the request was refused as invalid (HTTP 422): body/link must be array (422, PATCH {url}?version=v2)\n"
    )


def test_run_update_needs_a_change() -> None:
    result = invoke("run", "update", "r_1")
    assert result.exit_code == 2
    assert "nothing to update" in result.stderr


def test_run_log_message_with_run_id_from_env(mock: responses.RequestsMock, ci_env: Path) -> None:
    add_token(mock)
    entry = {"id": "log_1", "runId": "r_1", "message": "deploying"}
    mock.post(
        f"{API}/actions/runs/r_1/logs",
        status=201,
        json={"ok": True, "runLog": entry},
        match=[matchers.json_params_matcher({"message": "deploying"})],
    )
    out = ci_env / "out"
    result = invoke("run", "log", "deploying", env={"PORT_RUN_ID": "r_1", "GITHUB_OUTPUT": str(out)})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == entry
    assert github_outputs(out)["run-id"] == "r_1"


def test_run_log_with_termination_status(mock: responses.RequestsMock) -> None:
    add_token(mock)
    mock.post(
        f"{API}/actions/runs/r_2/logs",
        status=201,
        json={"ok": True, "runLog": {"id": "log_2"}},
        match=[
            matchers.json_params_matcher(
                {"message": "done", "terminationStatus": "FAILURE", "statusLabel": "tests failed"}
            )
        ],
    )
    result = invoke("run", "log", "r_2", "done", "--termination-status", "failure", "--status-label", "tests failed")
    assert result.exit_code == 0, result.stderr


def test_run_log_finished_and_not_retried(mock: responses.RequestsMock, no_sleep: list) -> None:
    add_token(mock)
    url = f"{API}/actions/runs/r_1/logs"
    mock.post(
        url,
        status=422,
        json={"ok": False, "error": "run_exhausted", "message": "Action run already finished execution"},
    )
    mock.get(f"{API}/actions/runs/r_1", json={"ok": True, "run": {**RUN, "id": "r_1", "status": "FAILURE"}})
    result = invoke("run", "log", "r_1", "late")
    assert result.exit_code == 1
    assert "Error: action run r_1 has already finished and cannot be changed" in result.stderr
    # A 502 may hide a line that arrived: the run's log is read, and the line is sent again only when absent.
    mock.replace(responses.POST, url, status=502, json={"message": "bad gateway"})
    mock.get(url, json={"ok": True, "runLogs": []})
    calls_before = len(mock.calls)
    assert invoke("run", "log", "r_1", "again").exit_code == 1
    posts = [c for c in mock.calls[calls_before:] if c.request.method == "POST"]
    assert len(posts) == 2  # cached token; sent, not found in the log, sent once more (urllib3 never retries it)


def test_run_log_too_many_words() -> None:
    result = invoke("run", "log", "r_1", "two", "words")
    assert result.exit_code == 2
    assert "expected [RUN_ID] MESSAGE: quote the message" in result.stderr


def test_run_logs_reads_every_page(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/actions/runs/r_1/logs"
    first = [{"id": f"log_{n}", "message": f"m{n}"} for n in range(50)]
    mock.get(
        url, json={"ok": True, "runLogs": first}, match=[matchers.query_param_matcher({"limit": "50", "offset": "0"})]
    )
    mock.get(
        url,
        json={"ok": True, "runLogs": [{"id": "log_50"}]},
        match=[matchers.query_param_matcher({"limit": "50", "offset": "50"})],
    )
    result = invoke("run", "logs", "r_1")
    assert result.exit_code == 0, result.stderr
    assert [e["id"] for e in json.loads(result.stdout)] == [f"log_{n}" for n in range(51)]


def test_get_retries_429_with_retry_after(ordered: responses.RequestsMock, no_sleep: list) -> None:
    add_token(ordered)
    url = f"{API}/actions/runs/r_1"
    ordered.get(url, status=429, headers={"Retry-After": "3"}, json={"message": "slow"})
    ordered.get(url, json={"ok": True, "run": RUN})
    result = invoke("run", "get", "r_1")
    assert result.exit_code == 0, result.stderr


def test_help_names_env_vars_and_exit_codes() -> None:
    result = invoke("entity", "upsert", "--help")
    assert result.exit_code == 0
    for text in (
        "PORT_CLIENT_ID",
        "PORT_CLIENT_SECRET",
        "PORT_BASE_URL",
        "PORT_REGION",
        "PORT_RUN_ID",
        "PORT_TOKEN_CACHE",
    ):
        assert text in result.stdout
    assert "Exit codes: 0 done; 1 the API or the remote task failed" in result.stdout


def test_version() -> None:
    result = invoke("--version")
    assert result.stdout == f"cirelay-port, version {port.__version__}\n"


# -- native to each CI: summaries, progress ----------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "host", "app"),
    [("eu", "https://api.port.io", "https://app.port.io"), ("us", "https://api.us.port.io", "https://app.us.port.io")],
)
def test_entity_summary_links_its_page_in_ports_app(
    mock: responses.RequestsMock, tmp_path: Path, region: str, host: str, app: str
) -> None:
    from markdown_it import MarkdownIt

    add_token(mock, url=f"{host}/v1/auth/access_token")
    mock.get(
        f"{host}/v1/blueprints/micro service/entities/pay%2Fments", json={"ok": True, "entity": entity("pay/ments")}
    )
    summary = tmp_path / "summary"
    result = invoke(
        "entity", "get", "-b", "micro service", "-i", "pay/ments",
        env={"PORT_BASE_URL": None, "PORT_REGION": region, "GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    html = MarkdownIt("commonmark").enable("table").render(summary.read_text())
    assert "<h3>Port micro service pay/ments: read</h3>" in html
    assert f'<a href="{app}/micro%20serviceEntity?identifier=pay%2Fments">pay/ments in Port</a>' in html


def test_bulk_summary_counts_and_first_failures(mock: responses.RequestsMock, tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    add_token(mock)
    ids = [f"svc-{n:02d}" for n in range(45)]
    mock.add_callback(responses.POST, BULK_URL, callback=BulkPort(reject={"svc-23", "svc-44"}))
    summary = tmp_path / "summary"
    path = write_entities(tmp_path / "e.json", ids)
    result = invoke(
        "entity", "bulk-upsert", "-b", "microservice", "--file", str(path), env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.exit_code == 1
    html = MarkdownIt("commonmark").enable("table").render(summary.read_text())
    assert "<h3>❌ Port bulk upsert: 43 of 45 upserted</h3>" in html
    assert "<li><strong>failed</strong>: 2</li>" in html
    assert "<th>item</th>\n<th>identifier</th>\n<th>error</th>\n<th>message</th>" in html
    assert "<td>24</td>\n<td>svc-23</td>\n<td>invalid_request</td>\n<td>svc-23 is invalid</td>" in html


def test_bulk_progress_at_most_each_tenth_or_ten_seconds(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    clock = [0.0]
    progress = port.Progress(1000, 50, "upserted", clock=lambda: clock[0])
    for _ in range(50):  # 50 batches of 20, 1 s apart
        clock[0] += 1
        progress.add(20)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "upserted 100/1000 entities (10 %)"
    assert lines[-1] == "upserted 900/1000 entities (90 %)"
    assert len(lines) == 9  # each tenth once; the last one is the result's to say
    slow = port.Progress(1000, 500, "deleted", clock=lambda: clock[0])
    for _ in range(3):  # 2 entities a minute: a line every 10 s at the least, even below a tenth
        clock[0] += 30
        slow.add(2)
    assert capsys.readouterr().err.splitlines() == [
        "deleted 2/1000 entities (0 %)",
        "deleted 4/1000 entities (0 %)",
        "deleted 6/1000 entities (0 %)",
    ]
    one = port.Progress(20, 1, "upserted", clock=lambda: clock[0])
    one.add(10)
    assert capsys.readouterr().err == ""  # one request: nothing to follow


def test_the_token_cache_is_keyed_by_the_secret_too(mock: responses.RequestsMock, ci_env: Path) -> None:
    # A token cached under the right secret must not answer for a wrong or rotated one (issue 16).
    port.TokenCache(f"{API}", CLIENT, SECRET, str(ci_env)).save("tok-good", 3600)
    mock.post(TOKEN_URL, status=401, json={"ok": False, "message": "Invalid client credentials"})
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments", env={"PORT_CLIENT_SECRET": "wrong"})
    assert result.exit_code == 1
    assert "Port rejected PORT_CLIENT_ID/PORT_CLIENT_SECRET" in result.stderr
    assert port.TokenCache(f"{API}", CLIENT, SECRET, str(ci_env)).load() == "tok-good"  # still there for the right one


def test_get_of_a_missing_blueprint_says_the_blueprint_is_missing(mock: responses.RequestsMock) -> None:
    add_token(mock)
    url = f"{API}/blueprints/nope/entities/payments"
    body = {"ok": False, "error": "not_found", "message": 'Blueprint with identifier "nope" was not found'}
    mock.get(url, status=404, json=body)
    result = invoke("entity", "get", "-b", "nope", "-i", "payments")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        'Error: blueprint nope not found: Blueprint with identifier "nope" was not found (404, GET '
    )


def test_a_429_on_the_token_request_is_waited_out(ordered: responses.RequestsMock) -> None:
    # The token request shares the organisation's rate limit too: one 429 must not fail the job.
    ordered.post(TOKEN_URL, status=429, json={"ok": False, "message": "slow down"}, headers={"Retry-After": "0"})
    add_token(ordered)
    ordered.get(f"{API}/blueprints/microservice/entities/payments", json={"ok": True, "entity": entity("payments")})
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments", "--no-token-cache")
    assert result.exit_code == 0, result.stderr
    assert "Port's rate limit answered 429 (POST /auth/access_token)" in result.stderr


def test_a_bad_cirelay_max_wait_is_exit_2_before_anything_is_sent() -> None:
    result = invoke("entity", "get", "-b", "microservice", "-i", "payments", env={"CIRELAY_MAX_WAIT": "soon"})
    assert result.exit_code == 2
    assert "CIRELAY_MAX_WAIT" in result.stderr.splitlines()[-1]
