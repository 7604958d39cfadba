"""cirelay-codearts's command line."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import click

from cirelay import __version__
from cirelay.cli import EXIT_CODES_HELP, CirelayGroup, KeyValue, parse_json_text, with_options
from cirelay.cli_wait import wait_options
from cirelay.codearts.client import (
    _NO_ENDPOINT,
    JOB_NOT_RUN,
    RUN_STATUSES,
    CodeArtsClient,
    _ms,
    _ordered,
    credentials_from_env,
    endpoint_for_region,
    review_steps,
    run_outcome,
    template_outcome,
)
from cirelay.errors import CirelayError, WaitInterrupted, require
from cirelay.output import duration, emit, log, log_group, show_stages
from cirelay.waiting import WaitSettings


def _client(
    endpoint: Optional[str], region: Optional[str], project_id: Optional[str], project: bool = True
) -> CodeArtsClient:
    """The client for the connection options; exit 2 when one is missing (the project unless not needed)."""
    if project:
        require(project_id, "--project-id", "CODEARTS_PROJECT_ID")
    endpoint = endpoint or ""
    region = region or ""
    if not endpoint:
        if not region:
            raise click.UsageError(_NO_ENDPOINT)
        endpoint = endpoint_for_region(region)
    credentials = credentials_from_env(dict(os.environ))
    return CodeArtsClient(endpoint, project_id, credentials, region)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --endpoint, --region and --project-id to a command and hand it `make_client`.

    make_client(project=True) checks them and the credentials and makes the client (exit 2 when one
    is missing); the command calls it when it needs the client, so its own options are checked first.
    """

    @functools.wraps(command)
    def wrapper(
        *args: Any, endpoint: Optional[str], region: Optional[str], project_id: Optional[str], **kwargs: Any
    ) -> Any:
        def make_client(project: bool = True) -> CodeArtsClient:
            return _client(endpoint, region, project_id, project)

        return command(*args, make_client=make_client, **kwargs)

    options = [
        click.option("--project-id", envvar="CODEARTS_PROJECT_ID", show_envvar=True, help="CodeArts project ID."),
        click.option("--region", envvar="CODEARTS_REGION", show_envvar=True, help="Region to build the endpoint from."),
        click.option(
            "--endpoint",
            envvar="CODEARTS_ENDPOINT",
            show_envvar=True,
            help="CodeArts Pipeline endpoint, e.g. https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com.",
        ),
    ]
    return with_options(wrapper, options)


def _run_outputs(run: Dict[str, Any], run_id: str, url: str) -> Dict[str, Any]:
    return {"run-id": run_id, "status": run.get("status"), "url": url}


def _run_summary(run: Dict[str, Any], run_id: str, url: str) -> Dict[str, Any]:
    return {"run": run_id, "status": run.get("status"), "url": url}


def _stage_table(run: Dict[str, Any]) -> Optional[str]:
    """Stages -> jobs with their status and duration (plain text at the end in CircleCI; Markdown returned)."""
    rows = []
    for stage in _ordered(run.get("stages")):
        jobs = _ordered(stage.get("jobs")) or [{}]
        for job in jobs:
            rows.append(
                [
                    stage.get("name") or stage.get("identifier") or "?",
                    job.get("name") or "",
                    job.get("status") or stage.get("status") or "",
                    duration(job.get("start_time"), job.get("end_time")),
                ]
            )
    return show_stages(["stage", "job", "status", "duration"], rows)


def _emit_run(run: Dict[str, Any], run_id: str, url: str) -> None:
    """The run as JSON, its outputs, and a summary with a link and its stage table.

    The run carries pipeline_run_id (beside its id) as `run start` without --wait prints it, so that
    `jq .pipeline_run_id` reads every form of the result.
    """
    run = {**run, "pipeline_run_id": run.get("pipeline_run_id") or run.get("id") or run_id}
    name = run.get("pipeline_name") or run.get("name")
    number = run.get("run_number")
    title = f"CodeArts {name}: run {number or run_id}" if name else f"CodeArts pipeline run {number or run_id}"
    emit(
        run,
        outputs=_run_outputs(run, run_id, url),
        summary=_run_summary(run, run_id, url),
        title=title,
        link=("open the run in CodeArts", url),
        details=_stage_table(run),
    )


def _wait_run(client: CodeArtsClient, pipeline_id: str, run_id: str, waiting: WaitSettings) -> None:
    """Poll the run to its end; print the final run (on failure, timeout and Ctrl-C too), set outputs."""
    seen: Dict[str, Any] = {}

    def poll() -> Dict[str, Any]:
        seen["run"] = client.get_run(pipeline_id, run_id)
        return seen["run"]

    def stop() -> None:
        client.stop_run(pipeline_id, run_id)
        try:  # show the run as the stop left it
            seen["run"] = client.get_run(pipeline_id, run_id)
        except CirelayError:
            pass

    def show_last() -> None:
        last = seen.get("run")
        if isinstance(last, dict):
            _emit_run(last, run_id, client.run_url(pipeline_id, run_id, last))

    try:
        run = waiting.run(poll, run_outcome, what=f"pipeline run {run_id}", on_cancel=stop)
    except KeyboardInterrupt as exc:
        show_last()
        if isinstance(exc, WaitInterrupted):
            exc.result = None  # shown, with the run's outputs
        raise
    except CirelayError as exc:
        if isinstance(exc.result, dict):  # the run ended badly or the deadline passed
            show_last()
            exc.result = None  # printed already
            exc.message = f"{exc.message} ({client.run_url(pipeline_id, run_id, seen.get('run'))})"
        raise
    _emit_run(run, run_id, client.run_url(pipeline_id, run_id, run))


@click.group(cls=CirelayGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="cirelay-codearts")
def cli() -> None:
    """Start and watch Huawei Cloud CodeArts Pipeline runs from a CI job.

    Every command takes --endpoint or --region, and --project-id (or CODEARTS_ENDPOINT,
    CODEARTS_REGION, CODEARTS_PROJECT_ID).
    Credentials come from the environment only: CODEARTS_TOKEN; or HUAWEICLOUD_SDK_AK and
    HUAWEICLOUD_SDK_SK; or HUAWEICLOUD_USERNAME, HUAWEICLOUD_PASSWORD and HUAWEICLOUD_DOMAIN.
    """


@cli.group()
def pipeline() -> None:
    """Pipelines of the project."""


@pipeline.command("list")
@connection_options
@click.option("--name", help="Only pipelines whose name contains this.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (default: all).")
def pipeline_list(make_client: Callable[..., CodeArtsClient], *, name: Optional[str], limit: Optional[int]) -> None:
    """List the project's pipelines (every page)."""
    pipelines = make_client().list_pipelines(name, limit)
    emit(pipelines, outputs={"count": str(len(pipelines))}, summary={"pipelines": len(pipelines)})


@pipeline.command("status")
@connection_options
@click.argument("pipeline_ids", metavar="PIPELINE_ID...", nargs=-1, required=True)
def pipeline_status(make_client: Callable[..., CodeArtsClient], *, pipeline_ids: Tuple[str, ...]) -> None:
    """Show the latest run of each pipeline (one request for all of them).

    A pipeline that never ran, or that does not exist, has no entry; each is named on stderr.
    """
    for pipeline_id in pipeline_ids:
        if not pipeline_id.strip():
            raise click.BadParameter("an empty pipeline ID (an unset variable?)", param_hint="PIPELINE_ID")
    latest = make_client().latest_status(list(dict.fromkeys(pipeline_ids)))
    answered = {str(run.get("pipeline_id")) for run in latest}
    for pipeline_id in pipeline_ids:
        if pipeline_id not in answered:
            log(f"pipeline {pipeline_id}: no run (it never ran, or there is no such pipeline)")
    statuses = {str(run.get("pipeline_id")): run.get("status") for run in latest}
    emit(latest, outputs={"count": str(len(latest)), "statuses": statuses}, summary=statuses)


@cli.group()
def run() -> None:
    """Pipeline runs: start, inspect, stop, retry, review, wait, read logs, artifacts and outputs."""


_pipeline_option = click.option(
    "--pipeline-id", required=True, envvar="CODEARTS_PIPELINE_ID", show_envvar=True, help="Pipeline ID (32 characters)."
)
_run_option = click.option(
    "--run-id", required=True, envvar="CODEARTS_RUN_ID", show_envvar=True, help="Pipeline run ID (pipeline_run_id)."
)


@run.command("start")
@connection_options
@click.option("--pipeline-id", envvar="CODEARTS_PIPELINE_ID", show_envvar=True, help="Pipeline ID (32 characters).")
@click.option(
    "--pipeline",
    "pipeline_name",
    envvar="CODEARTS_PIPELINE",
    show_envvar=True,
    help="Pipeline name, exactly (instead of --pipeline-id; looked up with pipeline list).",
)
@click.option("--var", "variables", type=KeyValue(), multiple=True, help="Custom parameter NAME=VALUE (repeatable).")
@click.option("--branch", help="Build this branch of the pipeline's code source(s).")
@click.option("--tag", help="Build this tag of the pipeline's code source(s).")
@click.option("--description", help="Run description.")
@click.option("--job", "jobs", multiple=True, help="Run only this job (its ID; repeatable): choose_jobs.")
@click.option(
    "--stage", "stages", multiple=True, help="Run only this stage (its ID; repeatable): choose_stages, before --job."
)
@wait_options(wait_flag=True)
def run_start(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: Optional[str],
    pipeline_name: Optional[str],
    variables: Tuple[Tuple[str, str], ...],
    branch: Optional[str],
    tag: Optional[str],
    description: Optional[str],
    jobs: Tuple[str, ...],
    stages: Tuple[str, ...],
    waiting: WaitSettings,
) -> None:
    """Start a run; with --wait, exit with its outcome."""
    if branch and tag:
        raise click.UsageError("--branch and --tag exclude each other")
    if bool(pipeline_id) == bool(pipeline_name):
        raise click.UsageError("pass one of --pipeline-id and --pipeline (or set CODEARTS_PIPELINE_ID)")
    for option, values in (("--job", jobs), ("--stage", stages)):
        if any(not v.strip() for v in values):
            raise click.BadParameter("an empty ID (an unset variable?)", param_hint=option)
    client = make_client()
    if pipeline_name:
        pipeline_id = str(client.pipeline_named(pipeline_name)["pipeline_id"])
        log(f"pipeline {pipeline_name!r} is {pipeline_id}")
    assert pipeline_id
    started = client.start_run(pipeline_id, list(variables), branch, tag, description, jobs=jobs, stages=stages)
    run_id = str(started["pipeline_run_id"])
    log(f"started pipeline run {run_id}")
    if waiting.wait:
        _wait_run(client, pipeline_id, run_id, waiting)
        return
    result = {"pipeline_id": pipeline_id, **started}
    url = client.run_url(pipeline_id, run_id)
    emit(result, outputs={"run-id": run_id, "url": url}, summary={"pipeline": pipeline_id, "run": run_id, "url": url})


@run.command("get")
@connection_options
@_pipeline_option
@_run_option
def run_get(make_client: Callable[..., CodeArtsClient], *, pipeline_id: str, run_id: str) -> None:
    """Show a run with its stages, jobs and steps."""
    client = make_client()
    detail = client.get_run(pipeline_id, run_id)
    url = client.run_url(pipeline_id, run_id, detail)
    emit(detail, outputs=_run_outputs(detail, run_id, url), summary={"run": run_id, "status": detail.get("status")})


@run.command("list")
@connection_options
@_pipeline_option
@click.option(
    "--status", "statuses", multiple=True, type=click.Choice(RUN_STATUSES, case_sensitive=False), help="Repeatable."
)
@click.option("--since", help="Runs started at or after: epoch s/ms or ISO date/time (UTC).")
@click.option("--until", help="Runs started at or before: epoch s/ms or ISO date/time (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many.")
def run_list(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    statuses: Tuple[str, ...],
    since: Optional[str],
    until: Optional[str],
    limit: int,
) -> None:
    """List a pipeline's runs, newest first."""
    start_ms, end_ms = _ms(since, "--since"), _ms(until, "--until")
    runs = make_client().list_runs(pipeline_id, [s.upper() for s in statuses], start_ms, end_ms, limit)
    emit(runs, outputs={"count": str(len(runs))}, summary={"runs": len(runs)})


@run.command("logs")
@connection_options
@_pipeline_option
@_run_option
@click.option("--job-run-id", help="Only this job's step (with --step-run-id).")
@click.option("--step-run-id", help="Only this step (with --job-run-id).")
def run_logs(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    run_id: str,
    job_run_id: Optional[str],
    step_run_id: Optional[str],
) -> None:
    """Print step logs as text: one step, or every step of the run in order."""
    if bool(job_run_id) != bool(step_run_id):
        raise click.UsageError("--job-run-id and --step-run-id go together")
    client = make_client()
    if job_run_id and step_run_id:
        text = client.step_log(pipeline_id, run_id, job_run_id, step_run_id)
        with log_group(f"step {step_run_id}", sys.stdout, remote_text=True):  # the log is CodeArts' text
            click.echo(text, nl=False)
        return
    detail = client.get_run(pipeline_id, run_id)
    failed: List[str] = []
    for stage in _ordered(detail.get("stages")):
        for job in _ordered(stage.get("jobs")):
            for step in _ordered(job.get("steps")):
                name = f"job: {job.get('name')} / step: {step.get('name')}"
                header = f"===== {name} ====="
                if (
                    job.get("status") in JOB_NOT_RUN
                    or step.get("status") in (None, "", "INIT", "QUEUED")
                    or job.get("is_select") is False
                ):
                    log(f"{header} not run ({job.get('status') or step.get('status') or 'no status'}), no log")
                    continue
                try:
                    text = client.step_log(pipeline_id, run_id, str(job.get("id")), str(step.get("id")))
                except CirelayError as exc:  # one unreadable log does not hide the others
                    log(f"{header} could not be read: {exc.message}")
                    failed.append(name)
                    continue
                with log_group(name, sys.stdout, remote_text=True):  # one fold per step in GitHub Actions
                    click.echo(header)
                    click.echo(text if text.endswith("\n") or not text else text + "\n", nl=False)
    if failed:
        raise CirelayError(f"{len(failed)} step log(s) could not be read: {'; '.join(failed)}")


@run.command("retry")
@connection_options
@_pipeline_option
@_run_option
@wait_options(wait_flag=True)
def run_retry(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    run_id: str,
    waiting: WaitSettings,
) -> None:
    """Retry a run that failed (the same run goes on); with --wait, exit with its outcome."""
    client = make_client()
    answer = client.retry_run(pipeline_id, run_id)
    log(f"retrying pipeline run {run_id}")
    if waiting.wait:
        _wait_run(client, pipeline_id, run_id, waiting)
        return
    url = client.run_url(pipeline_id, run_id)
    emit({"pipeline_id": pipeline_id, "pipeline_run_id": run_id, **answer}, outputs={"run-id": run_id, "url": url})


@run.command("review")
@connection_options
@_pipeline_option
@_run_option
@click.option("--reject", is_flag=True, help="Refuse the review (default: pass it).")
@click.option("--job-run-id", help="The review's job (with --step-run-id); default: the one waiting.")
@click.option("--step-run-id", help="The review's step (with --job-run-id).")
@click.option("--description", help="A note with the decision (approval_description).")
def run_review(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    run_id: str,
    reject: bool,
    job_run_id: Optional[str],
    step_run_id: Optional[str],
    description: Optional[str],
) -> None:
    """Pass (or, with --reject, refuse) a manual review of a run."""
    if bool(job_run_id) != bool(step_run_id):
        raise click.UsageError("--job-run-id and --step-run-id go together")
    client = make_client()
    if not (job_run_id and step_run_id):
        detail = client.get_run(pipeline_id, run_id)
        waiting = review_steps(detail)
        if not waiting:
            raise CirelayError(
                f"run {run_id} of pipeline {pipeline_id} has no manual review waiting for a decision"
                f" (run status {detail.get('status') or 'unknown'})"
            )
        if len(waiting) > 1:
            listed = "; ".join(
                f"{j.get('name')}: --job-run-id {j.get('id')} --step-run-id {s.get('id')}" for j, s in waiting
            )
            raise click.UsageError(f"{len(waiting)} manual reviews are waiting in run {run_id}, pick one: {listed}")
        job_run_id, step_run_id = str(waiting[0][0].get("id")), str(waiting[0][1].get("id"))
    answer = client.review(pipeline_id, run_id, job_run_id, step_run_id, accept=not reject, description=description)
    decision = "refused" if reject else "passed"
    log(f"{decision} the manual review of pipeline run {run_id}")
    result = {"pipeline_run_id": run_id, "job_run_id": job_run_id, "step_run_id": step_run_id, "decision": decision}
    emit({**result, **answer}, outputs={"run-id": run_id, "decision": decision}, summary=result)


@run.command("artifacts")
@connection_options
@_pipeline_option
@_run_option
def run_artifacts(make_client: Callable[..., CodeArtsClient], *, pipeline_id: str, run_id: str) -> None:
    """List the run's build artifacts (name, version, download URL, hashes…) as JSON."""
    artifacts = make_client().artifacts(pipeline_id, run_id)
    emit(artifacts, outputs={"count": str(len(artifacts))}, summary={"run": run_id, "artifacts": len(artifacts)})


@run.command("outputs")
@connection_options
@_pipeline_option
@_run_option
@click.option("--step-run-id", "step_run_ids", multiple=True, help="Only this step (repeatable); default: every step.")
def run_outputs(
    make_client: Callable[..., CodeArtsClient], *, pipeline_id: str, run_id: str, step_run_ids: Tuple[str, ...]
) -> None:
    """Show what the run's steps output, as JSON: [{step_run_id, output_result: [{key, value}]}]."""
    client = make_client()
    ids = [i for i in step_run_ids if i.strip()]
    if step_run_ids and not ids:
        raise click.BadParameter("an empty step ID (an unset variable?)", param_hint="--step-run-id")
    if not ids:
        detail = client.get_run(pipeline_id, run_id)
        ids = [
            str(step.get("id"))
            for stage in _ordered(detail.get("stages"))
            for job in _ordered(stage.get("jobs"))
            for step in _ordered(job.get("steps"))
            if job.get("status") not in JOB_NOT_RUN and step.get("id")
        ]
    outputs = client.step_outputs(pipeline_id, run_id, ids) if ids else []
    values = {str(o.get("key")): o.get("value") for step in outputs for o in step.get("output_result") or []}
    emit(
        outputs, outputs={"count": str(len(outputs)), "values": values}, summary={"run": run_id, "outputs": len(values)}
    )


@run.command("stop")
@connection_options
@_pipeline_option
@_run_option
def run_stop(make_client: Callable[..., CodeArtsClient], *, pipeline_id: str, run_id: str) -> None:
    """Stop a run."""
    answer = make_client().stop_run(pipeline_id, run_id)
    log(f"stopped pipeline run {run_id}")
    emit(answer, outputs={"run-id": run_id}, summary={"stopped": run_id})


@run.command("wait")
@connection_options
@_pipeline_option
@_run_option
@wait_options(wait_flag=False)
def run_wait(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    run_id: str,
    waiting: WaitSettings,
) -> None:
    """Wait for a run to end; exit 0 only when it COMPLETED (IGNORED, FAILED, CANCELED: exit 1)."""
    _wait_run(make_client(), pipeline_id, run_id, waiting)


@cli.group()
def template() -> None:
    """Pipelines made from templates."""


@template.command("create")
@connection_options
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(dir_okay=False, readable=True),
    help="The template body (flow, states, workflow) as JSON.",
)
@wait_options(wait_flag=True, cancellable=False)  # a template task cannot be cancelled
def template_create(
    make_client: Callable[..., CodeArtsClient],
    *,
    path: str,
    waiting: WaitSettings,
) -> None:
    """Create a pipeline from a template body; with --wait, until it exists."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--file")
    body = parse_json_text(text, path)
    if not isinstance(body, dict):
        raise click.BadParameter(f"{path} must hold a JSON object", param_hint="--file")
    client = make_client(project=False)
    task = client.create_from_template(body)
    task_id = str(task["task_id"])
    log(f"template task {task_id} accepted")
    if not waiting.wait:
        emit(task, outputs={"task-id": task_id}, summary={"template task": task_id})
        return

    def outputs(state: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "task-id": task_id,
            "status": state.get("task_status"),
            "pipeline-id": state.get("pipeline_id"),
            "url": state.get("pipeline_url"),
        }

    try:
        state = waiting.run(
            lambda: client.template_status(task_id),
            template_outcome,
            what=f"template task {task_id}",
            url=client.template_status_url(task_id),  # its only address until a pipeline exists
        )
    except CirelayError as exc:
        if isinstance(exc.result, dict):
            emit(exc.result, outputs=outputs(exc.result))
            exc.result = None
        raise
    emit(
        state,
        outputs=outputs(state),
        summary={"pipeline": state.get("pipeline_name"), "url": state.get("pipeline_url")},
    )
