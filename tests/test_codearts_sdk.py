"""Every request scripts/codearts.py sends equals Huawei's SDK's own construction of it.

The script runs as a CI step would, against the fake CodeArts on 127.0.0.1; for each operation the test
builds the same call with the SDK's request classes (huaweicloudsdkcodeartspipeline, `*_http_info`: method,
resource path, path and query params, body) and compares it with what the fake received over the socket.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from cirelay.emulators import codearts as fake_codearts
from tests.codearts_sdk import assert_sent_as_sdk, last, sdk, sdk_call
from tests.conftest import run_script

PROJECT = fake_codearts.PROJECT_ID


@pytest.fixture
def fake() -> Iterator[fake_codearts.FakeCodeArts]:
    server = fake_codearts.make_server()
    server.start()
    yield server
    server.stop()


def codearts(fake: fake_codearts.FakeCodeArts, *args: str, **env: str) -> Any:
    done = run_script("codearts", *args, env={**fake_codearts.env_for(fake.url), **env})
    assert done.returncode == 0, done.stderr
    return done


def _completed_run(fake: fake_codearts.FakeCodeArts, name: str = "build-and-deploy") -> Dict[str, str]:
    pipeline = fake.pipeline_id(name)
    fake.set_script(pipeline, ["COMPLETED"])
    return {"pipeline": pipeline, "run": fake.new_run(pipeline)}


def test_pipeline_list_is_list_pipelines(fake: fake_codearts.FakeCodeArts) -> None:
    fake.page_cap = 50
    codearts(fake, "pipeline", "list", "--name", "deploy")
    call = sdk_call(
        "list_pipelines",
        project_id=PROJECT,
        body=sdk.ListPipelineQuery(name="deploy", sort_key="name", sort_dir="asc", offset=0, limit=50),
    )
    assert_sent_as_sdk(last(fake, "POST", r".*/pipelines/list"), call)


def test_run_start_is_run_pipeline(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    codearts(fake, "run", "start", "--pipeline-id", pipeline, "--var", "ENV=staging", "--description", "ci")
    call = sdk_call(
        "run_pipeline",
        project_id=PROJECT,
        pipeline_id=pipeline,
        body=sdk.RunPipelineDTO(variables=[sdk.RunPipelineDTOVariables(name="ENV", value="staging")], description="ci"),
    )
    assert_sent_as_sdk(last(fake, "POST", r".*/run"), call)


def test_run_start_with_a_branch_and_a_choice_of_jobs_is_show_pipeline_detail_then_run_pipeline(
    fake: fake_codearts.FakeCodeArts,
) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    job = fake_codearts.definition_id(pipeline, "Build", "Build image")
    stage = fake_codearts.definition_id(pipeline, "Build")
    codearts(fake, "run", "start", "--pipeline-id", pipeline, "--branch", "release/1.2", "--job", job, "--stage", stage)
    assert_sent_as_sdk(
        last(fake, "GET", f".*/pipelines/{pipeline}"),
        sdk_call("show_pipeline_detail", project_id=PROJECT, pipeline_id=pipeline),
    )
    source = fake.pipelines[pipeline]["sources"][0]["params"]
    call = sdk_call(
        "run_pipeline",
        project_id=PROJECT,
        pipeline_id=pipeline,
        body=sdk.RunPipelineDTO(
            variables=[],
            sources=[
                sdk.RunPipelineDTOSources(
                    type="code",
                    params=sdk.RunPipelineDTOParams(
                        git_type=source["git_type"],
                        codehub_id=source["codehub_id"],
                        default_branch=source["default_branch"],
                        git_url=source["git_url"],
                        build_params=sdk.RunPipelineDTOParamsBuildParams(
                            build_type="branch", target_branch="release/1.2", event_type="Manual"
                        ),
                    ),
                )
            ],
            choose_jobs=[job],
            choose_stages=[stage],
        ),
    )
    assert_sent_as_sdk(last(fake, "POST", r".*/run"), call)


def test_run_list_is_list_pipeline_runs(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("build-and-deploy")
    args = ["--status", "COMPLETED", "--since", "1700000000000", "--until", "2023-11-15T00:00:00Z", "--limit", "2"]
    codearts(fake, "run", "list", "--pipeline-id", pipeline, *args)
    call = sdk_call(
        "list_pipeline_runs",
        project_id=PROJECT,
        pipeline_id=pipeline,
        body=sdk.ListPipelineRunsQuery(
            status=["COMPLETED"],
            start_time="1700000000000",
            end_time="1700006400000",
            offset=0,
            limit=2,
            sort_key="start_time",
            sort_dir="desc",
        ),
    )
    assert_sent_as_sdk(last(fake, "POST", r".*/pipeline-runs/list"), call)


def test_run_get_is_show_pipeline_run_detail(fake: fake_codearts.FakeCodeArts) -> None:
    ids = _completed_run(fake)
    codearts(fake, "run", "get", "--pipeline-id", ids["pipeline"], "--run-id", ids["run"])
    call = sdk_call(
        "show_pipeline_run_detail", project_id=PROJECT, pipeline_id=ids["pipeline"], pipeline_run_id=ids["run"]
    )
    assert_sent_as_sdk(last(fake, "GET", r".*/pipeline-runs/detail"), call)


def test_run_stop_is_stop_pipeline_run(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["RUNNING"])
    run_id = fake.new_run(pipeline)
    codearts(fake, "run", "stop", "--pipeline-id", pipeline, "--run-id", run_id)
    call = sdk_call("stop_pipeline_run", project_id=PROJECT, pipeline_id=pipeline, pipeline_run_id=run_id)
    assert_sent_as_sdk(last(fake, "POST", r".*/stop"), call)


def test_first_log_page_is_show_pipeline_log(fake: fake_codearts.FakeCodeArts) -> None:
    fake.log_page_lines = 500  # one page: what paging sends next is the paging test's business
    ids = _completed_run(fake)
    detail = json.loads(codearts(fake, "run", "get", "--pipeline-id", ids["pipeline"], "--run-id", ids["run"]).stdout)
    job = detail["stages"][0]["jobs"][0]
    step = job["steps"][0]["id"]
    args = ["--pipeline-id", ids["pipeline"], "--run-id", ids["run"], "--job-run-id", job["id"], "--step-run-id", step]
    codearts(fake, "run", "logs", *args)
    call = sdk_call(
        "show_pipeline_log",
        project_id=PROJECT,
        pipeline_id=ids["pipeline"],
        pipeline_run_id=ids["run"],
        job_run_id=job["id"],
        step_run_id=step,
        body=sdk.LogQuery(start_offset=0, end_offset=0, limit=500, sort="asc"),
    )
    assert_sent_as_sdk(last(fake, "POST", r".*/logs"), call)


def test_every_log_page_is_show_pipeline_log_with_the_last_answers_offsets(fake: fake_codearts.FakeCodeArts) -> None:
    ids = _completed_run(fake)
    detail = json.loads(codearts(fake, "run", "get", "--pipeline-id", ids["pipeline"], "--run-id", ids["run"]).stdout)
    job = detail["stages"][0]["jobs"][0]
    step = job["steps"][0]["id"]
    args = ["--pipeline-id", ids["pipeline"], "--run-id", ids["run"], "--job-run-id", job["id"], "--step-run-id", step]
    codearts(fake, "run", "logs", *args)
    pages = fake.seen("POST", r".*/logs")
    assert len(pages) == 2  # 6 lines, 3 a page
    answers = [(0, 0)]
    for request in pages:
        call = sdk_call(
            "show_pipeline_log",
            project_id=PROJECT,
            pipeline_id=ids["pipeline"],
            pipeline_run_id=ids["run"],
            job_run_id=job["id"],
            step_run_id=step,
            body=sdk.LogQuery(start_offset=answers[-1][0], end_offset=answers[-1][1], limit=500, sort="asc"),
        )
        assert_sent_as_sdk(request, call)
        # what the fake answered to it, the offsets of the next request (ShowPipelineLogResponse: strings)
        answered = fake._logs(request, fake.runs[ids["run"]]).body
        assert isinstance(answered, dict)
        _fits(answered, "ShowPipelineLogResponse", extra={"location"})  # the API page's example has location too
        answers.append((int(answered["start_offset"]), int(answered["end_offset"])))


def test_retry_review_artifacts_outputs_and_status_are_the_sdks(fake: fake_codearts.FakeCodeArts) -> None:
    pipeline = fake.pipeline_id("nightly-tests")
    fake.set_script(pipeline, ["FAILED"])
    run_id = fake.new_run(pipeline)
    codearts(fake, "run", "retry", "--pipeline-id", pipeline, "--run-id", run_id)
    call = sdk_call("retry_pipeline_run", project_id=PROJECT, pipeline_id=pipeline, pipeline_run_id=run_id)
    assert_sent_as_sdk(last(fake, "PUT", r".*/retry"), call)

    release = fake.pipeline_id("release-with-approval")
    fake.set_script(release, ["REVIEW"])
    for accept, operation in ((True, "accept_manual_review"), (False, "reject_manual_review")):
        review_run = fake.new_run(release)
        detail = json.loads(codearts(fake, "run", "get", "--pipeline-id", release, "--run-id", review_run).stdout)
        job = next(j for s in detail["stages"] for j in s["jobs"] if j["status"] == "PAUSED")
        reject = [] if accept else ["--reject"]
        codearts(
            fake, "run", "review", "--pipeline-id", release, "--run-id", review_run, "--description", "ok", *reject
        )
        call = sdk_call(
            operation,
            project_id=PROJECT,
            pipeline_id=release,
            pipeline_run_id=review_run,
            job_run_id=job["id"],
            step_run_id=job["steps"][0]["id"],
            approval_description="ok",
        )
        assert_sent_as_sdk(last(fake, "POST", r".*/(pass|refuse)"), call)

    ids = _completed_run(fake)
    done = codearts(fake, "run", "artifacts", "--pipeline-id", ids["pipeline"], "--run-id", ids["run"])
    call = sdk_call(
        "show_pipeline_artifacts", project_id=PROJECT, pipeline_id=ids["pipeline"], pipeline_run_id=ids["run"]
    )
    assert_sent_as_sdk(last(fake, "GET", r".*/artifacts"), call)
    _fits({"artifacts": json.loads(done.stdout)}, "ShowPipelineArtifactsResponse")

    detail = json.loads(codearts(fake, "run", "get", "--pipeline-id", ids["pipeline"], "--run-id", ids["run"]).stdout)
    step_ids = [step["id"] for stage in detail["stages"] for job in stage["jobs"] for step in job["steps"]][::-1]
    assert len(step_ids) == 3
    args = [a for step in step_ids for a in ("--step-run-id", step)]
    done = codearts(fake, "run", "outputs", "--pipeline-id", ids["pipeline"], "--run-id", ids["run"], *args)
    call = sdk_call(
        "show_step_outputs",
        project_id=PROJECT,
        pipeline_id=ids["pipeline"],
        pipeline_run_id=ids["run"],
        step_run_ids=",".join(step_ids),
    )
    assert_sent_as_sdk(last(fake, "GET", r".*/steps/outputs"), call)
    _fits({"step_outputs": json.loads(done.stdout)}, "ShowStepOutputsResponse")

    done = codearts(fake, "pipeline", "status", ids["pipeline"], pipeline)
    call = sdk_call("batch_show_pipelines_latest_status", project_id=PROJECT, body=[ids["pipeline"], pipeline])
    assert_sent_as_sdk(last(fake, "POST", r".*/pipelines/status"), call)
    for item in json.loads(done.stdout):
        _fits(item, "PipelineLatestRun")


def test_template_create_and_status_are_the_sdks(fake: fake_codearts.FakeCodeArts, tmp_path: Path) -> None:
    fake.template_script = ["succeeded"]
    cddl = sdk.TemplateCddl(
        flow={"initial": {"state_1": "always"}, "state_1": {"final": "always"}},
        states={
            "initial": sdk.TemplateState(type="stage", name="initial", display_name="Initial", dsl_method="initial"),
            "state_1": sdk.TemplateState(type="stage", name="state_1", display_name="Build", dsl_method="build"),
            "final": sdk.TemplateState(type="stage", name="final", display_name="Final", dsl_method="final"),
        },
        workflow=sdk.Workflow(
            name="from-the-sdk",
            parameter=[sdk.PipelineParam(name="serviceName", value="shop", param_type="normalparam")],
            source=[],
        ),
    )
    create = sdk_call("create_pipeline_by_template", body=cddl)
    (tmp_path / "cddl.json").write_text(json.dumps(create.body), encoding="utf-8")
    done = codearts(fake, "template", "create", "--file", str(tmp_path / "cddl.json"), "--wait", "--poll-max", "1")
    assert_sent_as_sdk(last(fake, "POST", "/v3/templates/task"), create)
    task_id = json.loads(done.stdout)["task_id"]
    assert_sent_as_sdk(
        last(fake, "GET", r"/v3/templates/[^/]+/status"), sdk_call("show_instance_status", task_id=task_id)
    )


def test_the_fakes_answers_use_the_sdks_field_names(fake: fake_codearts.FakeCodeArts) -> None:
    """Each answer the fake gives deserialises into the SDK's response model without a field left over."""
    ids = _completed_run(fake)
    detail = json.loads(codearts(fake, "run", "get", "--pipeline-id", ids["pipeline"], "--run-id", ids["run"]).stdout)
    _fits(detail, "ShowPipelineRunDetailResponse")
    listed = json.loads(codearts(fake, "pipeline", "list").stdout)
    for item in listed:
        _fits(item, "ListPipelinesPagePipelines")
    runs = json.loads(codearts(fake, "run", "list", "--pipeline-id", ids["pipeline"]).stdout)
    for item in runs:
        _fits(item, "ListPipelineRunsPagePipelineRuns")
    pipeline = fake._get_pipeline(last(fake, "POST", r".*/pipeline-runs/list")).body  # the route's own answer
    _fits(pipeline, "ShowPipelineDetailResponse")


def _fits(value: Any, model: str, extra: Any = ()) -> None:
    """Every key of value is a field of the SDK model (recursively through the models it names)."""
    cls = getattr(sdk, model)
    assert isinstance(value, dict), (model, value)
    fields = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    unknown = sorted(set(value) - set(fields) - set(extra))
    assert not unknown, f"{model} has no field {unknown}"
    for key, item in value.items():
        if key not in fields:
            continue
        kind = cls.openapi_types[fields[key]]
        inner = kind[5:-1] if kind.startswith("list[") else kind
        if item is None or not hasattr(sdk, inner):
            continue
        for element in item if kind.startswith("list[") else [item]:
            _fits(element, inner)


def test_every_operation_the_fake_serves_has_its_sdk_comparison_here() -> None:
    """A route added to the fake (its docstring names the SDK operation) needs a comparison in this file."""
    import re

    served = set(re.findall(r"^\s+(?:GET|POST|PUT)\s+\S+\s+([a-z]+(?:_[a-z]+)+)", fake_codearts.__doc__ or "", re.M))
    assert len(served) == 15, sorted(served)
    source = Path(__file__).read_text(encoding="utf-8")
    compared = set(re.findall(r'(?:sdk_call\(\s*|\(True, |\(False, )"([a-z_]+)"', source))
    assert served <= compared, f"no SDK comparison for {sorted(served - compared)}"
