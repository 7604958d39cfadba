"""cirelay-zadig's command line."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import click

from cirelay import __version__
from cirelay.cli import EXIT_CODES_HELP, CirelayGroup, JsonArg, KeyValue
from cirelay.cli_wait import wait_options
from cirelay.errors import CirelayError, InputError, WaitInterrupted, require
from cirelay.output import duration, emit, log, log_group, show_stages, warn
from cirelay.waiting import WaitSettings
from cirelay.zadig.client import (
    _NO_TASK_ID,
    APPROVAL_STATUS,
    BUILD_SPEC,
    COMMIT_ID,
    PAUSE_STATUS,
    SERVICE_TYPES,
    TOKEN_CHARACTERS,
    ZadigClient,
    after_restart,
    describe_custom,
    describe_legacy,
    job_tasks,
)
from cirelay.zadig.inputs import job_inputs, resolve_params


class BuildSpec(click.ParamType):
    """SERVICE:REPO@BRANCH or SERVICE:REPO@BRANCH#PR."""

    name = "SERVICE:REPO@BRANCH[#PR]"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if isinstance(value, tuple):
            return value
        found = BUILD_SPEC.match(str(value).strip())
        if not found:
            self.fail(f"expected SERVICE:REPO@BRANCH or SERVICE:REPO@BRANCH#PR, got {value!r}", param, ctx)
        pr = int(found.group("pr") or 0)
        return (found.group("service").strip(), found.group("repo").strip(), found.group("branch").strip(), pr)


def task_body(
    workflow: str,
    env: str,
    images: Tuple[Tuple[str, str], ...],
    builds: Tuple[Tuple[str, str, str, int], ...],
    service_type: str,
) -> Dict[str, Any]:
    """The create body; several --build flags for one service become one target with several repos."""
    body: Dict[str, Any] = {"workflow_name": workflow, "env_name": env}
    if images:
        body["release_images"] = [{"image": image, "service_name": service} for service, image in images]
    if builds:
        targets: Dict[str, Dict[str, Any]] = {}
        for service, repo, branch, pr in builds:
            target = targets.setdefault(
                service, {"name": service, "service_type": service_type, "build": {"repos": []}}
            )
            target["build"]["repos"].append({"repo_name": repo, "branch": branch, "pr": pr})
        body["targets"] = list(targets.values())
    return body


def check_commit_id(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    if value is not None and not COMMIT_ID.match(value):
        raise click.BadParameter(f"expected at least 8 hex characters of a commit SHA, got {value!r}")
    return value


def client_from(url: Optional[str]) -> ZadigClient:
    """The client for --url (ZADIG_URL) and ZADIG_TOKEN; exit 2 when one is missing."""
    url = require(url, "--url", "ZADIG_URL")
    token = os.environ.get("ZADIG_TOKEN", "").strip()
    if not token:
        raise click.UsageError("missing ZADIG_TOKEN: set it to a Zadig API token (read only from the environment)")
    if not TOKEN_CHARACTERS.match(token):  # never show the value: it is a secret
        raise click.UsageError(
            "ZADIG_TOKEN holds a line break, a space, a control or a non-ASCII character, which a token cannot"
            " have: check how the secret was set"
        )
    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"ZADIG_URL must start with http:// or https://, got {url!r}")
    return ZadigClient(url, token)


class Task:
    """One task of a workflow, legacy or custom: how to read, describe and cancel it, and where people see it."""

    def __init__(
        self,
        client: ZadigClient,
        workflow: str,
        task_id: Any,
        *,
        custom: bool,
        project: Optional[str] = None,
        restarted: bool = False,
    ) -> None:
        self.client = client
        self.workflow = workflow
        self.task_id = task_id
        self.custom = custom
        self.restarted = restarted  # restarted or retried: its old terminal status may show for a moment
        url_of = client.custom_url if custom else client.legacy_url
        self.url = url_of(workflow, task_id, project)
        self.what = f"Zadig task {workflow} #{task_id}"

    def get(self) -> Dict[str, Any]:
        """The task as Zadig shows it now."""
        if self.custom:
            return self.client.get_custom(self.workflow, int(self.task_id))
        return self.client.get_task(self.workflow, int(self.task_id))

    def cancel(self) -> Dict[str, Any]:
        """Cancel the task."""
        if self.custom:
            return self.client.cancel_custom(self.workflow, int(self.task_id))
        return self.client.cancel_task(self.workflow, int(self.task_id))

    def state_of(self) -> Callable[[Any], Tuple[str, str]]:
        """The waiter's view of this task's states."""
        describe = describe_custom if self.custom else describe_legacy
        return after_restart(describe) if self.restarted else describe


def stage_table(state: Any) -> Optional[str]:
    """A custom task's stages -> jobs with status and duration (Zadig's times are epoch seconds)."""
    rows = []
    for stage in (state.get("stages") or []) if isinstance(state, dict) else []:
        if not isinstance(stage, dict):
            continue
        for job in [j for j in stage.get("jobs") or [] if isinstance(j, dict)] or [{}]:
            rows.append(
                [
                    stage.get("name") or "",
                    job.get("display_name") or job.get("name") or "",
                    job.get("status") or stage.get("status") or "",
                    duration(job.get("start_time"), job.get("end_time"), per_second=1),
                ]
            )
    return show_stages(["stage", "job", "status", "duration"], rows)


def finish(state: Any, task: Task, error: Optional[CirelayError] = None) -> None:
    """Print the final task, write the CI outputs, then fail with the wait's error if there was one."""
    status = state.get("status") if isinstance(state, dict) else None
    emit(
        state,
        outputs={"task-id": str(task.task_id), "status": status, "url": task.url},
        summary={"Zadig task": task.task_id, "status": status, "url": task.url},
        title=f"Zadig {task.workflow} #{task.task_id}",
        link=("open the task in Zadig", task.url),
        details=stage_table(state),
    )
    if error is not None:
        raise CirelayError(error.message, exit_code=error.exit_code)


def follow(task: Task, waiting: WaitSettings, *, first: Optional[Dict[str, Any]] = None) -> None:
    """Wait for a task and finish with its final state: exit 0 passed, 1 other end, 3 timeout.

    first is a state already fetched: the first poll hands it back instead of asking again.
    After a cancel at the timeout the task is read once more, so the JSON and the outputs show
    the state the cancel left (cancelled), not the last status seen before it.
    """
    cancelled: List[bool] = []

    def cancel() -> None:
        task.cancel()
        cancelled.append(True)

    def poll() -> Dict[str, Any]:
        return pending.pop() if pending else task.get()

    pending = [first] if first is not None else []
    try:
        final = waiting.run(poll, task.state_of(), what=task.what, url=task.url, on_cancel=cancel)
    except WaitInterrupted as stop:  # stopped: still show where the task was (after the cancel, if one)
        state = read_after_cancel(task) if stop.cancelled else None
        if state is not None or stop.result is not None:
            finish(state if state is not None else stop.result, task)
        stop.result = None
        raise
    except CirelayError as exc:
        if exc.result is None:  # the API failed while polling: nothing final to show
            raise
        state = read_after_cancel(task) if cancelled else None
        finish(state if state is not None else exc.result, task, exc)
        return
    finish(final, task)


def read_after_cancel(task: Task) -> Any:
    """The task once more after a cancel at the timeout; None when that read fails (said on stderr)."""
    try:
        return task.get()
    except CirelayError as exc:
        log(f"could not read {task.what} after cancelling it: {exc.message}")
        return None


def has_task_id(answer: Dict[str, Any], workflow: str, wait: bool) -> bool:
    """Whether a start answer names its task; if not, fail a --wait (exit 1) or print the answer with a warning."""
    if answer.get("task_id"):
        return True
    if wait:
        raise CirelayError(_NO_TASK_ID, result=answer)
    warn(_NO_TASK_ID)
    emit(answer, summary={"workflow": workflow, "task": "started (no task_id in the answer)"})
    return False


def answer_or_follow(answer: Dict[str, Any], task: Task, waiting: WaitSettings) -> None:
    """After a start, restart or retry: print Zadig's answer, or with --wait follow the task to its end."""
    if not waiting.wait:
        finish(answer, task)
        return
    follow(task, waiting)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --url (ZADIG_URL) to a command and hand it `make_client`, which checks it and ZADIG_TOKEN (exit 2).

    The command calls it when it needs the client, so its own options are checked first.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, url: Optional[str], **kwargs: Any) -> Any:
        return command(*args, make_client=lambda: client_from(url), **kwargs)

    option = click.option(
        "--url", envvar="ZADIG_URL", show_envvar=True, help="Zadig base URL, e.g. https://zadig.example.com."
    )
    return option(wrapper)


workflow_option = click.option(
    "-w", "--workflow", required=True, envvar="ZADIG_WORKFLOW", show_envvar=True, help="Workflow name (key)."
)
project_option = click.option(
    "-p", "--project", required=True, envvar="ZADIG_PROJECT", show_envvar=True, help="Project key."
)
id_option = click.option(
    "--id",
    "task_id",
    required=True,
    type=click.IntRange(min=1),
    envvar="ZADIG_TASK_ID",
    show_envvar=True,
    help="Task ID (e.g. the task_id a start printed, exported by an earlier step).",
)


def task_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--url, -w/--workflow and --id: what names one task, and `make_client`."""
    return connection_options(workflow_option(id_option(command)))


@click.group(cls=CirelayGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="cirelay-zadig")
def cli() -> None:
    """Start Zadig workflow tasks from a CI job and wait for them.

    Every command takes --url (ZADIG_URL). The API token comes only from ZADIG_TOKEN
    (never an option: a command line shows in process lists).
    """


@cli.group(epilog=EXIT_CODES_HELP)
def task() -> None:
    """Legacy workflow tasks (product workflows, Zadig up to v3.4.0, /api/directory/workflowTask).

    From v3.4.1 the backend behind these routes is gone (and from v1.18.0 the one behind `task
    list`): such a server answers HTTP 500 or resultCode 500, and the error names the `custom`
    command to use instead.
    """


@task.command("list")
@connection_options
@click.option(
    "--commit-id", required=True, callback=check_commit_id, help="Commit SHA, whole or its first 8+ characters."
)
def task_list(make_client: Callable[[], ZadigClient], commit_id: str) -> None:
    """List the tasks Zadig ran for a commit (GitLab commits only, a Zadig limit)."""
    tasks = make_client().list_tasks(commit_id)
    emit(tasks, outputs={"count": str(len(tasks))}, summary={"commit": commit_id, "tasks": len(tasks)})


@task.command("create")
@connection_options
@workflow_option
@click.option("-e", "--env", "env_name", required=True, envvar="ZADIG_ENV", show_envvar=True, help="Environment.")
@click.option(
    "--image", "images", multiple=True, type=KeyValue(), metavar="SERVICE=IMAGE", help="Deploy this image (repeatable)."
)
@click.option(
    "--build",
    "builds",
    multiple=True,
    type=BuildSpec(),
    help="Build SERVICE from REPO at BRANCH (or pull request PR); repeat for more repos or services.",
)
@click.option("--service-type", type=click.Choice(SERVICE_TYPES), default="k8s", show_default=True, help="Deploy kind.")
@wait_options(wait_flag=True)
def task_create(
    make_client: Callable[[], ZadigClient],
    *,
    workflow: str,
    env_name: str,
    images: Tuple[Tuple[str, str], ...],
    builds: Tuple[Tuple[str, str, str, int], ...],
    service_type: str,
    waiting: WaitSettings,
) -> None:
    """Start a task of a legacy workflow with images to deploy and/or services to build."""
    if not images and not builds:
        raise click.UsageError("give at least one --image SERVICE=IMAGE or --build SERVICE:REPO@BRANCH")
    for service, image in images:
        if not image.strip():
            raise click.UsageError(f"--image {service}= names no image")
    client = make_client()
    answer = client.create_task(task_body(workflow, env_name, images, builds, service_type))
    name = str(answer.get("workflow_name") or workflow)
    if not has_task_id(answer, name, waiting.wait):
        return
    task = Task(client, name, answer["task_id"], custom=False, project=answer.get("project_name"))
    log(f"started task {task.task_id} of workflow {name}: {task.url}")
    answer_or_follow(answer, task, waiting)


@task.command("get")
@task_options
def task_get(make_client: Callable[[], ZadigClient], workflow: str, task_id: int) -> None:
    """Show one legacy task and its status."""
    task = Task(make_client(), workflow, task_id, custom=False)
    finish(task.get(), task)


@task.command("restart")
@task_options
@wait_options(wait_flag=True)
def task_restart(make_client: Callable[[], ZadigClient], *, workflow: str, task_id: int, waiting: WaitSettings) -> None:
    """Restart a failed, timed-out or cancelled legacy task (the same task ID runs again)."""
    client = make_client()
    answer = client.restart_task(workflow, task_id)
    log(f"restarted task {task_id} of workflow {workflow}")
    task = Task(client, workflow, task_id, custom=False, restarted=True)
    answer_or_follow(answer, task, waiting)


@task.command("cancel")
@task_options
def task_cancel(make_client: Callable[[], ZadigClient], workflow: str, task_id: int) -> None:
    """Cancel a legacy task."""
    task = Task(make_client(), workflow, task_id, custom=False)
    finish(task.cancel(), task)


@task.command("wait")
@task_options
@wait_options(wait_flag=False)
def task_wait(make_client: Callable[[], ZadigClient], *, workflow: str, task_id: int, waiting: WaitSettings) -> None:
    """Wait for a legacy task to finish: exit 0 when it passed, 1 when it ended otherwise, 3 on timeout."""
    follow(Task(make_client(), workflow, task_id, custom=False), waiting)


@cli.group(epilog=EXIT_CODES_HELP)
def custom() -> None:
    """Custom workflow tasks (/openapi/workflows/custom): Zadig v1.15 and later.

    workflow_key/project_key, the workflow detail, task list and approvals from v1.18, parameters
    from v3.1, job logs from v3.4, manual execution (resume) from v5.0.
    """


@custom.command("run")
@connection_options
@project_option
@workflow_option
@click.option(
    "--param",
    "params",
    multiple=True,
    type=KeyValue(),
    help="Workflow parameter NAME=VALUE (repeatable); the workflow must define it.",
)
@click.option(
    "--job",
    "jobs",
    multiple=True,
    help="Run only this job (repeatable; the others are skipped). Default: every job, as configured.",
)
@click.option(
    "--inputs",
    type=JsonArg(list),
    help="Job inputs merged over those built from the workflow: a JSON array of {job_name, parameters},"
    " inline, @file or - for stdin.",
)
@wait_options(wait_flag=True)
def custom_run(
    make_client: Callable[[], ZadigClient],
    *,
    project: str,
    workflow: str,
    params: Tuple[Tuple[str, str], ...],
    jobs: Tuple[str, ...],
    inputs: Optional[List[Any]],
    waiting: WaitSettings,
) -> None:
    """Start a task of a custom workflow, every job as the workflow configures it.

    Zadig runs only the jobs named in the request's inputs and skips the others, so the inputs are
    built from the workflow's own definition, one per job (build: its registry and services;
    deploy: its environment and images; freestyle, plugin, approval: as configured). --job picks
    jobs, --inputs overrides or adds a job's input.
    """
    client = make_client()
    detail = client.get_workflow(project, workflow)
    parameters = resolve_params(detail, params)
    sent = job_inputs(detail, only=jobs, overrides=inputs, registries=client.list_registries)
    log(f"running jobs of workflow {workflow}: {', '.join(str(i['job_name']) for i in sent)}")
    answer = client.run_custom(project, workflow, parameters, sent)
    if not has_task_id(answer, workflow, waiting.wait):
        return
    task = Task(client, workflow, answer["task_id"], custom=True, project=project)
    log(f"started task {task.task_id} of workflow {workflow}: {task.url}")
    answer_or_follow(answer, task, waiting)


@custom.command("get")
@task_options
def custom_get(make_client: Callable[[], ZadigClient], workflow: str, task_id: int) -> None:
    """Show one custom workflow task with its stages and jobs."""
    client = make_client()
    found = client.get_custom(workflow, task_id)
    finish(found, Task(client, workflow, task_id, custom=True, project=found.get("project_key")))


@custom.command("cancel")
@task_options
def custom_cancel(make_client: Callable[[], ZadigClient], workflow: str, task_id: int) -> None:
    """Cancel a custom workflow task."""
    task = Task(make_client(), workflow, task_id, custom=True)
    finish(task.cancel(), task)


@custom.command("retry")
@connection_options
@project_option
@workflow_option
@id_option
@wait_options(wait_flag=True)
def custom_retry(
    make_client: Callable[[], ZadigClient],
    *,
    project: str,
    workflow: str,
    task_id: int,
    waiting: WaitSettings,
) -> None:
    """Retry a failed custom workflow task (the same task ID runs again)."""
    client = make_client()
    answer = client.retry_custom(project, workflow, task_id)
    task = Task(client, workflow, task_id, custom=True, project=project, restarted=True)
    log(f"retried task {task_id} of workflow {workflow}: {task.url}")
    answer_or_follow(answer, task, waiting)


@custom.command("wait")
@task_options
@wait_options(wait_flag=False)
def custom_wait(make_client: Callable[[], ZadigClient], *, workflow: str, task_id: int, waiting: WaitSettings) -> None:
    """Wait for a custom workflow task: exit 0 when it passed, 1 when it ended otherwise, 3 on timeout."""
    client = make_client()
    first = client.get_custom(workflow, task_id)
    task = Task(client, workflow, task_id, custom=True, project=first.get("project_key"))
    follow(task, waiting, first=first)


def pick_job(found: List[Dict[str, Any]], name: str, task_id: int) -> List[Dict[str, Any]]:
    """The job tasks --job names: a job task's name, else the job's own name or display name (exit 2 if none)."""
    exact = [job for job in found if job.get("name") == name]
    if exact:
        return exact
    by_job = [job for job in found if name in (job.get("origin_name"), job.get("display_name"))]
    if by_job:
        return by_job
    names = ", ".join(str(job.get("name")) for job in found) or "none"
    raise InputError(f"task {task_id} has no job {name!r} (its job tasks: {names})", param_hint="'--job'")


@custom.command("approve")
@task_options
@click.option("--reject", is_flag=True, help="Reject instead of approving.")
@click.option("--comment", default="", help="A comment that goes with the decision.")
@click.option(
    "--job", "job", help="The approval job (job task name or job name). Default: the one waiting for approval."
)
def custom_approve(
    make_client: Callable[[], ZadigClient],
    *,
    workflow: str,
    task_id: int,
    reject: bool,
    comment: str,
    job: Optional[str],
) -> None:
    """Approve (or --reject) the approval job a custom workflow task waits on."""
    client = make_client()
    state = client.get_custom(workflow, task_id)
    task = Task(client, workflow, task_id, custom=True, project=state.get("project_key"))
    waiting = [j for j in job_tasks(state) if str(j.get("status") or "").lower() == APPROVAL_STATUS]
    if job is not None:
        chosen = pick_job(job_tasks(state), job, task_id)
        if len(chosen) > 1:
            names = ", ".join(str(j.get("name")) for j in chosen)
            raise InputError(f"--job {job} names several job tasks ({names}): give one of them", param_hint="'--job'")
    elif not waiting:
        raise CirelayError(
            f"{task.what} has no job waiting for approval (status {state.get('status') or 'unknown'})",
            result=state,
        )
    elif len(waiting) > 1:
        names = ", ".join(str(j.get("name")) for j in waiting)
        raise InputError(f"several jobs wait for approval ({names}): choose one with --job", param_hint="'--job'")
    else:
        chosen = waiting
    name = str(chosen[0].get("name"))
    answer = client.approve_custom(workflow, task_id, name, not reject, comment)
    log(f"{'rejected' if reject else 'approved'} job {name} of {task.what}: {task.url}")
    result = {**answer, "workflow_key": workflow, "task_id": task_id, "job": name, "approve": not reject}
    emit(
        result,
        outputs={"task-id": str(task_id), "url": task.url},
        summary={"Zadig task": task_id, "job": name, "decision": "rejected" if reject else "approved"},
    )


@custom.command("resume")
@task_options
@click.option(
    "-p", "--project", envvar="ZADIG_PROJECT", show_envvar=True, help="Project key. Default: the task's project."
)
@click.option("--stage", help="The stage to run. Default: the one waiting for manual execution.")
def custom_resume(
    make_client: Callable[[], ZadigClient], *, workflow: str, task_id: int, project: Optional[str], stage: Optional[str]
) -> None:
    """Run the stage a custom workflow task waits on for manual execution (Zadig v5.0+)."""
    client = make_client()
    state = client.get_custom(workflow, task_id)
    project = project or state.get("project_key")
    task = Task(client, workflow, task_id, custom=True, project=project)
    if not project:
        raise InputError("the task names no project: give -p/--project (or ZADIG_PROJECT)", param_hint="'--project'")
    if stage is None:
        paused = [
            s.get("name")
            for s in state.get("stages") or []
            if isinstance(s, dict) and str(s.get("status") or "").lower() == PAUSE_STATUS
        ]
        if not paused:
            raise CirelayError(
                f"{task.what} has no stage waiting for manual execution (status {state.get('status') or 'unknown'})",
                result=state,
            )
        stage = str(paused[0])
    answer = client.resume_custom(project, workflow, task_id, stage)
    log(f"started stage {stage} of {task.what}: {task.url}")
    emit(
        {**answer, "workflow_key": workflow, "task_id": task_id, "stage": stage},
        outputs={"task-id": str(task_id), "url": task.url},
        summary={"Zadig task": task_id, "stage": stage, "url": task.url},
    )


@custom.command("list")
@connection_options
@project_option
@workflow_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many tasks, newest first."
)
def custom_list(make_client: Callable[[], ZadigClient], *, project: str, workflow: str, limit: int) -> None:
    """List a custom workflow's tasks, newest first, as a JSON array."""
    tasks = make_client().list_custom(project, workflow, limit)
    emit(tasks, outputs={"count": str(len(tasks))}, summary={"workflow": workflow, "tasks": len(tasks)})


@custom.command("logs")
@task_options
@click.option("--job", "job", help="Only this job (job task name or job name). Default: every job, in order.")
def custom_logs(make_client: Callable[[], ZadigClient], *, workflow: str, task_id: int, job: Optional[str]) -> None:
    """Print the logs of a custom workflow task's jobs as text (Zadig v3.4+).

    Zadig serves a job's log once it is archived, when the job ends: before that it is empty.
    """
    client = make_client()
    found = job_tasks(client.get_custom(workflow, task_id))
    chosen = pick_job(found, job, task_id) if job is not None else found
    for number, item in enumerate(chosen):
        name = str(item.get("name"))
        text = client.job_log(workflow, task_id, name)
        with log_group(
            f"{item.get('display_name') or name} ({name})", sys.stdout, remote_text=True
        ):  # one fold per job in GitHub
            if job is None or len(chosen) > 1:
                click.echo(f"{chr(10) if number else ''}==> {item.get('display_name') or name} ({name}) <==")
            if text:
                click.echo(text, nl=not text.endswith("\n"))
            else:
                status = item.get("status") or "pending"
                log(f"no log for job {name} yet (Zadig archives it when the job ends; status {status})")
