"""cirelay-port's command line: one click command per client call."""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import click

from cirelay import __version__
from cirelay.cli import EXIT_CODES_HELP, CirelayGroup, JsonArg, KeyValue, not_empty, parse_json_text, with_options
from cirelay.errors import EXIT_INTERRUPTED, CirelayError, require
from cirelay.output import emit, log, md_table
from cirelay.port.ci_report import ci_entity
from cirelay.port.client import PortClient
from cirelay.port.common import (
    CI_FIELDS,
    CI_STATUSES,
    DEFAULT_BASE_URL,
    REGION_URLS,
    RUN_STATUSES,
    _given,
    check_base_url,
    entity_page,
)


def _json_items(path: str) -> List[Tuple[str, Any]]:
    """The items of a JSON array or NDJSON file ('-' for stdin), each with the words that name it in an error.

    Items and lines are counted from 1 alike: 'item 3 of f.json', 'stdin line 3'.
    """
    source = "stdin" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="'--file'")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{source} is not UTF-8 text: {exc.reason} at byte {exc.start}", param_hint="'--file'")
    try:
        if text.lstrip().startswith("["):
            items = parse_json_text(text, source)
            return [(f"item {n} of {source}", item) for n, item in enumerate(items, start=1)]
        return [
            (f"{source} line {n}", parse_json_text(line, f"{source} line {n}"))
            for n, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="'--file'")


def read_entities(path: str) -> List[Dict[str, Any]]:
    """Entities from a JSON array or NDJSON file ('-' for stdin); each needs an identifier."""
    items = _json_items(path)
    for where, item in items:
        if not isinstance(item, dict) or not isinstance(item.get("identifier"), str) or not item["identifier"]:
            raise click.BadParameter(f"{where} is not an entity object with a string identifier", param_hint="'--file'")
    return [item for _, item in items]


def read_identifiers(path: str) -> List[str]:
    """Identifiers from a JSON array or NDJSON ('-' for stdin): strings, or objects with an identifier."""
    out = []
    for where, item in _json_items(path):
        value = item.get("identifier") if isinstance(item, dict) else item
        if not isinstance(value, str) or not value.strip():
            raise click.BadParameter(
                f"{where} is not an identifier (a string, or an object with one)", param_hint="'--file'"
            )
        out.append(value)
    return out


# -- the command line --------------------------------------------------------------------------


def client_secret(path: Optional[str]) -> str:
    """PORT_CLIENT_SECRET from the environment, else the first line of --client-secret-file; exit 2 naming both."""
    secret = os.environ.get("PORT_CLIENT_SECRET", "")
    if secret:
        return secret
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                secret = handle.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise click.BadParameter(f"cannot read {path}: {reason}", param_hint="'--client-secret-file'")
        if not secret:
            raise click.BadParameter(f"{path} is empty", param_hint="'--client-secret-file'")
        return secret
    raise click.UsageError(
        "missing the Port client secret: set PORT_CLIENT_SECRET in the step's environment (a CI secret), "
        "or give --client-secret-file"
    )


def port_client(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options to a command and hand it a ready PortClient as `client`."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        client_id: Optional[str],
        client_secret_file: Optional[str],
        base_url: Optional[str],
        region: Optional[str],
        token_cache: bool,
        **kwargs: Any,
    ) -> Any:
        check_base_url(base_url)
        client = PortClient(
            require(client_id, "--client-id", "PORT_CLIENT_ID"),
            client_secret(client_secret_file),
            base_url=base_url,
            region=region,
            token_cache=token_cache,
        )
        return command(*args, client=client, **kwargs)

    options = [
        click.option(
            "--token-cache/--no-token-cache",
            default=True,
            envvar="PORT_TOKEN_CACHE",
            show_envvar=True,
            help="Share the access token between the steps of a job (a private file in $RUNNER_TEMP or the temp dir).",
        ),
        click.option(
            "--region",
            type=click.Choice(sorted(REGION_URLS), case_sensitive=False),
            envvar="PORT_REGION",
            show_envvar=True,
            help="Port region when no base URL is given: eu (api.port.io, default) or us (api.us.port.io).",
        ),
        click.option(
            "--base-url",
            envvar="PORT_BASE_URL",
            show_envvar=True,
            help=f"Port API base URL, with or without /v1.  [default: {DEFAULT_BASE_URL}]",
        ),
        click.option(
            "--client-secret-file",
            type=click.Path(dir_okay=False),
            envvar="PORT_CLIENT_SECRET_FILE",
            show_envvar=True,
            help="Read the client secret from this file (a mounted secret) when PORT_CLIENT_SECRET is not set. "
            "The secret itself is never an option: a command line shows in `ps` and in CI logs.",
        ),
        click.option("--client-id", envvar="PORT_CLIENT_ID", show_envvar=True, help="Port client id."),
    ]
    return with_options(wrapper, options)


def run_id_option(help_text: str) -> Callable[[Any], Any]:
    return click.option("--run-id", envvar="PORT_RUN_ID", show_envvar=True, help=help_text)


_RUN_ID_FOR_ENTITIES = "Action run this change belongs to (shown in the run's log; the run must be in progress)."


def _pick_run_id(positional: Optional[str], option: Optional[str]) -> str:
    return require(positional or option, "RUN_ID (or --run-id)", "PORT_RUN_ID")


def _entity_summary(entity: Any, blueprint: str) -> Dict[str, Any]:
    identifier = entity.get("identifier") if isinstance(entity, dict) else None
    return {"blueprint": blueprint, "identifier": identifier, "title": (entity or {}).get("title")}


def _emit_entity(client: PortClient, result: Any, blueprint: str, identifier: str, action: str) -> None:
    """One entity as the result, its outputs, and a summary linking its page in Port's app."""
    shown = (result or {}).get("identifier", identifier) if isinstance(result, dict) else identifier
    page = entity_page(client.api, blueprint, str(shown))
    emit(
        result,
        outputs={"identifier": shown, "entity": result},
        summary={"action": action, **_entity_summary(result, blueprint)},
        title=f"Port {blueprint} {shown}: {action}",
        link=(f"{shown} in Port", page) if page else None,
    )


@click.group(cls=CirelayGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="cirelay-port")
def cli() -> None:
    """Talk to Port from a CI job: catalog entities, CI job reports and self-service action runs.

    Credentials come from PORT_CLIENT_ID / PORT_CLIENT_SECRET; results are JSON on stdout.
    """


@cli.group(epilog=EXIT_CODES_HELP)
def entity() -> None:
    """Create, read, search and delete catalog entities."""


@entity.command("upsert", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option("-i", "--identifier", required=True, callback=not_empty, help="Entity identifier.")
@click.option("--title", help="Entity title.")
@click.option("--icon", help="Entity icon.")
@click.option("--team", "teams", multiple=True, help="Owning team (repeatable).")
@click.option("--properties", type=JsonArg(dict), help="Properties as JSON: '{\"k\":1}', @file.json or -.")
@click.option("--relations", type=JsonArg(dict), help='Relations as JSON: \'{"rel":"id"}\', @file.json or -.')
@click.option("--replace", is_flag=True, help="Replace the whole entity instead of merging into it.")
@click.option("--create-missing-related", is_flag=True, help="Create related entities that do not exist yet.")
@click.option("--validate-only", is_flag=True, help="Only check the entity against the blueprint; change nothing.")
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def entity_upsert(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    blueprint: str,
    identifier: str,
    title: Optional[str],
    icon: Optional[str],
    teams: Tuple[str, ...],
    properties: Optional[Dict[str, Any]],
    relations: Optional[Dict[str, Any]],
    replace: bool,
    create_missing_related: bool,
    validate_only: bool,
    run_id: Optional[str],
) -> None:
    """Create or update an entity (merging into the existing one unless --replace)."""
    body = _given(
        identifier=identifier,
        title=title,
        icon=icon,
        team=list(teams) or None,
        properties=properties,
        relations=relations,
    )
    result = client.upsert_entity(
        blueprint,
        body,
        merge=not replace,
        create_missing_related=create_missing_related,
        validate_only=validate_only,
        run_id=run_id,
    )
    _emit_entity(client, result, blueprint, identifier, "validated" if validate_only else "upserted")


_FIELDS_HELP = (
    "either form works: identifier, title, properties.region (entity JSON) or $identifier, $title, region "
    "(Port's search form); repeatable."
)


@entity.command("get", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option("-i", "--identifier", required=True, callback=not_empty, help="Entity identifier.")
@click.option("--include", multiple=True, help="Only these fields; " + _FIELDS_HELP)
@click.option("--exclude", multiple=True, help="Leave out these fields; " + _FIELDS_HELP)
@port_client
def entity_get(
    client: PortClient, blueprint: str, identifier: str, include: Tuple[str, ...], exclude: Tuple[str, ...]
) -> None:
    """Print one entity."""
    result = client.get_entity(blueprint, identifier, include, exclude)
    _emit_entity(client, result, blueprint, identifier, "read")


@entity.command("search", epilog=EXIT_CODES_HELP)
@click.option(
    "-b",
    "--blueprint",
    callback=not_empty,
    help="Search this blueprint's entities (all pages); without it, every blueprint.",
)
@click.option(
    "--query",
    type=JsonArg(dict),
    required=True,
    help='Search rules as JSON, e.g. \'{"combinator":"and","rules":[…]}\', @file.json or -.',
)
@click.option("--include", multiple=True, help="Only these fields; " + _FIELDS_HELP)
@click.option("--exclude", multiple=True, help="Leave out these fields; " + _FIELDS_HELP)
@click.option("--limit", type=click.IntRange(min=1), help="Return at most this many entities.")
@port_client
def entity_search(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    blueprint: Optional[str],
    query: Dict[str, Any],
    include: Tuple[str, ...],
    exclude: Tuple[str, ...],
    limit: Optional[int],
) -> None:
    """Print the entities matching a query, as a JSON array."""
    result = client.search_entities(query, blueprint=blueprint, include=include, limit=limit, exclude=exclude)
    identifiers = [e.get("identifier") for e in result if isinstance(e, dict)]
    emit(
        result,
        outputs={"identifiers": identifiers, "entities": result},
        summary={"action": "searched", "blueprint": blueprint or "(all)", "found": len(result)},
    )


_CONCURRENCY = click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Requests in flight at the same time (bulk work).",
)


BULK_SUMMARY_FAILURES = 10  # failures listed in the job summary; the result JSON has them all


def _finish_bulk(result: Dict[str, Any], done_key: str, verb: str, total: int, where: str) -> None:
    """Print a bulk result (and write the outputs), then exit 130 if it was stopped, 1 if anything failed."""
    interrupted = result.pop("interrupted", False)
    if interrupted:  # a third signal must not cut the account in half: it is printed whole
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    failed, skipped = result["failed"], result["not_attempted"]
    log(
        f"{verb} {len(result[done_key])} of {total} entities {where}; {len(failed)} failed"
        + (f", {len(skipped)} not attempted" if interrupted or skipped else "")
    )
    first = failed[:BULK_SUMMARY_FAILURES]
    details = None
    if first:
        more = (
            f"\n{len(failed) - len(first)} more failures are in the result JSON.\n" if len(failed) > len(first) else ""
        )
        details = (
            "**First failures**\n\n"
            + md_table(
                ["item", "identifier", "error", "message"],
                [[f["index"] + 1, f.get("identifier"), f.get("error"), f.get("message")] for f in first],
            )
            + more
        )
    emit(
        result,
        outputs={"identifiers": result[done_key], "not-attempted": [s["identifier"] for s in skipped]},
        summary={
            "status": "failed" if failed else "interrupted" if interrupted else verb,
            "where": where,
            verb: len(result[done_key]),
            "failed": len(failed),
            "not attempted": len(skipped),
        },
        title=f"Port bulk {'upsert' if verb == 'upserted' else 'delete'}: {len(result[done_key])} of {total} {verb}",
        details=details,
    )
    if interrupted:
        raise CirelayError(
            f"interrupted: {len(result[done_key])} {verb}, {len(failed)} failed, {len(skipped)} not attempted "
            "(the result lists each; resend not_attempted, see the README)",
            exit_code=EXIT_INTERRUPTED,
        )
    if failed:
        first = failed[0]
        raise CirelayError(
            f"{len(failed)} of {total} entities were not {verb} "
            f"(first: item {first['index'] + 1}, {first['identifier']}: {first['message']})"
        )


@entity.command("delete", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option("-i", "--identifier", "identifiers", multiple=True, help="Entity identifier (repeatable).")
@click.option(
    "--file", "path", help="Identifiers as a JSON array or NDJSON (strings, or objects with identifier); - is stdin."
)
@click.option("--delete-dependents", is_flag=True, help="Also delete the entities that depend on them.")
@_CONCURRENCY
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def entity_delete(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    blueprint: str,
    identifiers: Tuple[str, ...],
    path: Optional[str],
    delete_dependents: bool,
    concurrency: int,
    run_id: Optional[str],
) -> None:
    """Delete one entity, or many (100 per request, every one accounted for; exit 1 if any failed)."""
    wanted = list(identifiers) + (read_identifiers(path) if path else [])
    if not wanted:
        raise click.UsageError("nothing to delete: give -i/--identifier or --file")
    if any(not w.strip() for w in wanted):
        raise click.BadParameter("must not be empty", param_hint="'-i' / '--identifier'")
    if len(wanted) == 1 and not path:
        result = client.delete_entity(blueprint, wanted[0], delete_dependents=delete_dependents, run_id=run_id)
        emit(
            result,
            outputs={"identifier": wanted[0]},
            summary={"action": "deleted", "blueprint": blueprint, "identifier": wanted[0]},
        )
        return
    result = client.bulk_delete(
        blueprint, wanted, delete_dependents=delete_dependents, run_id=run_id, concurrency=concurrency
    )
    _finish_bulk(result, "deleted", "deleted", len(wanted), f"from {blueprint}")


@entity.command("bulk-upsert", epilog=EXIT_CODES_HELP)
@click.option(
    "-b", "--blueprint", callback=not_empty, help="Blueprint identifier; optional when every entity has its own."
)
@click.option(
    "--file",
    "path",
    required=True,
    help="Entities as a JSON array or NDJSON (one object per line); - reads stdin. "
    'An entity\'s own "blueprint" field wins over -b.',
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Batches of 20 sent at the same time.",
)
@click.option("--create-missing-related", is_flag=True, help="Create related entities that do not exist yet.")
@click.option("--validate-only", is_flag=True, help="Only check the entities against their blueprints; change nothing.")
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def entity_bulk_upsert(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    blueprint: Optional[str],
    path: str,
    concurrency: int,
    create_missing_related: bool,
    validate_only: bool,
    run_id: Optional[str],
) -> None:
    """Upsert many entities (merge); every one is accounted for, exit 1 if any failed, 130 if stopped."""
    entities = read_entities(path)
    if not blueprint:
        for position, item in enumerate(entities):
            if not isinstance(item.get("blueprint"), str) or not item["blueprint"]:
                raise click.UsageError(
                    f'missing -b/--blueprint: item {position + 1} of the file has no "blueprint" field'
                )
    result = client.bulk_upsert(
        blueprint,
        entities,
        concurrency=concurrency,
        run_id=run_id,
        create_missing_related=create_missing_related,
        validate_only=validate_only,
    )
    where = (
        f"into {blueprint}"
        if blueprint and all(e.get("blueprint") in (None, blueprint) for e in entities)
        else ("into " + ", ".join(sorted({str(e.get("blueprint") or blueprint) for e in entities})))
    )
    _finish_bulk(result, "upserted", "upserted", len(entities), where)


@cli.group(epilog=EXIT_CODES_HELP)
def ci() -> None:
    """Report the current CI job to Port."""


@ci.command("report", epilog=EXIT_CODES_HELP)
@click.option(
    "-b", "--blueprint", required=True, callback=not_empty, help="Blueprint of the CI job entity, e.g. ciJob."
)
@click.option(
    "--status", type=click.Choice(CI_STATUSES), default="running", show_default=True, help="The job's status."
)
@click.option("--identifier", help="Entity identifier.  [default: <provider>-<run id>-<job>]")
@click.option("--relation", "relations", type=KeyValue(), multiple=True, help="NAME=ENTITY_ID (repeatable).")
@click.option("--properties", type=JsonArg(dict), help="Extra properties as JSON; they override the built ones.")
@click.option(
    "--map",
    "mapping",
    type=KeyValue(),
    multiple=True,
    help="FIELD=PROPERTY: send our FIELD as your blueprint's PROPERTY, e.g. commit=commitHash (repeatable); "
    f"with any --map only mapped fields are sent. Fields: {', '.join(CI_FIELDS)}.",
)
@click.option("--create-missing-related", is_flag=True, help="Create related entities that do not exist yet.")
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def ci_report(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    blueprint: str,
    status: str,
    identifier: Optional[str],
    relations: Tuple[Tuple[str, str], ...],
    properties: Optional[Dict[str, Any]],
    mapping: Tuple[Tuple[str, str], ...],
    create_missing_related: bool,
    run_id: Optional[str],
) -> None:
    """Upsert an entity describing this CI job (CircleCI, GitHub Actions, GitLab, Jenkins, Azure Pipelines,
    Bitbucket Pipelines, Buildkite, Codefresh): provider, commit, url, status…"""
    for ours, target in mapping:
        if ours not in CI_FIELDS:
            raise click.BadParameter(f"unknown field {ours!r}; fields: {', '.join(CI_FIELDS)}", param_hint="'--map'")
        if not target.strip():
            raise click.BadParameter(f"{ours}= names no property", param_hint="'--map'")
    body = ci_entity(status, identifier, relations, properties, mapping=mapping)
    result = client.upsert_entity(
        blueprint, body, merge=True, create_missing_related=create_missing_related, run_id=run_id
    )
    _emit_entity(client, result, blueprint, body["identifier"], f"reported {status}")


@cli.group(epilog=EXIT_CODES_HELP)
def run() -> None:
    """Create, find, read, update and log to self-service action runs (RUN_ID defaults to PORT_RUN_ID)."""


_RUN_ID_HELP = "The action run (instead of RUN_ID)."


@run.command("create", epilog=EXIT_CODES_HELP)
@click.option("--action", required=True, callback=not_empty, help="Action identifier.")
@click.option("--entity", "entity_id", help="Entity the action runs on (day-2 actions).")
@click.option("--properties", type=JsonArg(dict), help="The action's inputs as JSON, @file.json or -.")
@port_client
def run_create(client: PortClient, action: str, entity_id: Optional[str], properties: Optional[Dict[str, Any]]) -> None:
    """Start an action run (never sent twice, even on a 5xx)."""
    result = client.create_run(action, entity_id, properties)
    run_id = result.get("id")
    emit(result, outputs={"run-id": run_id}, summary={"action": action, "run": run_id, "status": result.get("status")})


@run.command("list", epilog=EXIT_CODES_HELP)
@click.option("--action", callback=not_empty, help="Only runs of this action.")
@click.option("--entity", "entity_id", callback=not_empty, help="Only runs on this entity.")
@click.option("--external-run-id", callback=not_empty, help="Only the run with this external id (the CI's own).")
@click.option("--active", is_flag=True, help="Only runs still in progress.")
@click.option("--limit", type=click.IntRange(1, 1000), help="At most this many runs (Port's limit is 1000).")
@port_client
def run_list(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    action: Optional[str],
    entity_id: Optional[str],
    external_run_id: Optional[str],
    active: bool,
    limit: Optional[int],
) -> None:
    """Print the action runs that match, newest first, as a JSON array (find the run a pipeline reports to)."""
    result = client.list_runs(action, entity_id, external_run_id, True if active else None, limit)
    ids = [r.get("id") for r in result]
    emit(
        result,
        outputs={"run-ids": ids, "run-id": ids[0] if ids else None},
        summary={"action": "listed runs", "found": len(ids)},
    )


@run.command("get", epilog=EXIT_CODES_HELP)
@click.argument("run_arg", metavar="[RUN_ID]", required=False)
@run_id_option(_RUN_ID_HELP)
@port_client
def run_get(client: PortClient, run_arg: Optional[str], run_id: Optional[str]) -> None:
    """Print an action run."""
    the_id = _pick_run_id(run_arg, run_id)
    result = client.get_run(the_id)
    emit(result, outputs={"run-id": the_id}, summary={"run": the_id, "status": result.get("status")})


@run.command("update", epilog=EXIT_CODES_HELP)
@click.argument("run_arg", metavar="[RUN_ID]", required=False)
@run_id_option(_RUN_ID_HELP)
@click.option("--status", type=click.Choice(RUN_STATUSES, case_sensitive=False), help="Finish the run.")
@click.option("--status-label", help="Short label shown next to the status.")
@click.option("--link", "links", multiple=True, help="Link shown on the run, e.g. the CI job URL (repeatable).")
@click.option("--summary", help="Summary text (markdown) shown on the run.")
@click.option("--external-run-id", help="The CI's own id for this run.")
@click.option("--log", "log_message", help="A log line sent first, before the status changes.")
@port_client
def run_update(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    run_arg: Optional[str],
    run_id: Optional[str],
    status: Optional[str],
    status_label: Optional[str],
    links: Tuple[str, ...],
    summary: Optional[str],
    external_run_id: Optional[str],
    log_message: Optional[str],
) -> None:
    """Update an action run (safe to retry: a lost answer is checked by reading the run)."""
    the_id = _pick_run_id(run_arg, run_id)
    changes = _given(
        status=status.upper() if status else None,
        statusLabel=status_label,
        link=list(links) or None,
        summary=summary,
        externalRunId=external_run_id,
    )
    if log_message is not None and not log_message.strip():
        raise click.BadParameter("must not be empty", param_hint="'--log'")
    if not changes and log_message is None:
        raise click.UsageError(
            "nothing to update: give --status, --status-label, --link, --summary, --external-run-id or --log"
        )
    if log_message is not None:
        result = client.update_run_with_log(the_id, changes, log_message)
    else:
        result = client.update_run(the_id, changes)
    emit(result, outputs={"run-id": the_id}, summary={"run": the_id, "status": result.get("status")})


@run.command("log", epilog=EXIT_CODES_HELP)
@click.argument("words", metavar="[RUN_ID] MESSAGE", nargs=-1, required=True)
@run_id_option(_RUN_ID_HELP)
@click.option(
    "--termination-status", type=click.Choice(RUN_STATUSES, case_sensitive=False), help="Also finish the run."
)
@click.option("--status-label", help="Short label shown next to the final status.")
@port_client
def run_log(
    client: PortClient,
    words: Tuple[str, ...],
    run_id: Optional[str],
    termination_status: Optional[str],
    status_label: Optional[str],
) -> None:
    """Add a line to an action run's log (a lost answer is checked in the run's log, never sent twice)."""
    if len(words) > 2:
        raise click.UsageError("expected [RUN_ID] MESSAGE: quote the message")
    run_arg, message = (words[0], words[1]) if len(words) == 2 else (None, words[0])
    if not message.strip():
        raise click.UsageError("MESSAGE must not be empty")
    the_id = _pick_run_id(run_arg, run_id)
    result = client.add_run_log(the_id, message, termination_status and termination_status.upper(), status_label)
    emit(result, outputs={"run-id": the_id}, summary={"run": the_id, "logged": message})


@run.command("logs", epilog=EXIT_CODES_HELP)
@click.argument("run_arg", metavar="[RUN_ID]", required=False)
@run_id_option(_RUN_ID_HELP)
@port_client
def run_logs(client: PortClient, run_arg: Optional[str], run_id: Optional[str]) -> None:
    """Print every log line of an action run, as a JSON array."""
    the_id = _pick_run_id(run_arg, run_id)
    result = client.run_logs(the_id)
    emit(result, outputs={"run-id": the_id}, summary={"run": the_id, "log lines": len(result)})


if __name__ == "__main__":
    cli()
