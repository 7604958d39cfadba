"""cirelay-port's command line: one click command per client call."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import click

from cirelay import __version__
from cirelay.cli import EXIT_CODES_HELP, CirelayGroup, JsonArg, KeyValue, not_empty, parse_json_text
from cirelay.errors import CirelayError, require
from cirelay.output import emit, log
from cirelay.port.ci_report import ci_entity
from cirelay.port.client import (
    CI_STATUSES,
    DEFAULT_BASE_URL,
    REGION_URLS,
    RUN_STATUSES,
    PortClient,
    _given,
    check_base_url,
)


def read_entities(path: str) -> List[Dict[str, Any]]:
    """Entities from a JSON array or NDJSON file ('-' for stdin); each needs an identifier."""
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
    items: List[Any]
    try:
        if text.lstrip().startswith("["):
            items = parse_json_text(text, source)
        else:
            items = []
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    items.append(parse_json_text(line, f"{source} line {number}"))
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="'--file'")
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("identifier"), str) or not item["identifier"]:
            raise click.BadParameter(
                f"item {position} of {source} is not an entity object with a string identifier",
                param_hint="'--file'",
            )
    return items


# -- the command line --------------------------------------------------------------------------


def port_client(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options to a command and hand it a ready PortClient as `client`."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        client_id: Optional[str],
        client_secret: Optional[str],
        base_url: Optional[str],
        region: Optional[str],
        token_cache: bool,
        **kwargs: Any,
    ) -> Any:
        check_base_url(base_url)
        client = PortClient(
            require(client_id, "--client-id", "PORT_CLIENT_ID"),
            require(client_secret, "--client-secret", "PORT_CLIENT_SECRET"),
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
            help="Port region when no base URL is given: eu (api.getport.io, default) or us (api.us.getport.io).",
        ),
        click.option(
            "--base-url",
            envvar="PORT_BASE_URL",
            show_envvar=True,
            help=f"Port API base URL, with or without /v1.  [default: {DEFAULT_BASE_URL}]",
        ),
        click.option("--client-secret", envvar="PORT_CLIENT_SECRET", show_envvar=True, help="Port client secret."),
        click.option("--client-id", envvar="PORT_CLIENT_ID", show_envvar=True, help="Port client id."),
    ]
    for option in options:
        wrapper = option(wrapper)
    return wrapper


def run_id_option(help_text: str) -> Callable[[Any], Any]:
    return click.option("--run-id", envvar="PORT_RUN_ID", show_envvar=True, help=help_text)


_RUN_ID_FOR_ENTITIES = "Action run this change belongs to (shown in the run's log; the run must be in progress)."


def _pick_run_id(positional: Optional[str], option: Optional[str]) -> str:
    return require(positional or option, "RUN_ID (or --run-id)", "PORT_RUN_ID")


def _entity_summary(entity: Any, blueprint: str) -> Dict[str, Any]:
    identifier = entity.get("identifier") if isinstance(entity, dict) else None
    return {"blueprint": blueprint, "identifier": identifier, "title": (entity or {}).get("title")}


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
    emit(
        result,
        outputs={"identifier": (result or {}).get("identifier", identifier), "entity": result},
        summary={"action": "validated" if validate_only else "upserted", **_entity_summary(result, blueprint)},
    )


@entity.command("get", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option("-i", "--identifier", required=True, callback=not_empty, help="Entity identifier.")
@click.option("--include", multiple=True, help="Only these fields, e.g. properties.version (repeatable).")
@click.option("--exclude", multiple=True, help="Leave out these fields (repeatable).")
@port_client
def entity_get(
    client: PortClient, blueprint: str, identifier: str, include: Tuple[str, ...], exclude: Tuple[str, ...]
) -> None:
    """Print one entity."""
    result = client.get_entity(blueprint, identifier, include, exclude)
    emit(
        result,
        outputs={"identifier": identifier, "entity": result},
        summary={"action": "read", **_entity_summary(result, blueprint)},
    )


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
@click.option("--include", multiple=True, help="Only these fields, e.g. identifier (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="Return at most this many entities.")
@port_client
def entity_search(
    client: PortClient,
    blueprint: Optional[str],
    query: Dict[str, Any],
    include: Tuple[str, ...],
    limit: Optional[int],
) -> None:
    """Print the entities matching a query, as a JSON array."""
    result = client.search_entities(query, blueprint=blueprint, include=include, limit=limit)
    identifiers = [e.get("identifier") for e in result if isinstance(e, dict)]
    emit(
        result,
        outputs={"identifiers": identifiers, "entities": result},
        summary={"action": "searched", "blueprint": blueprint or "(all)", "found": len(result)},
    )


@entity.command("delete", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option("-i", "--identifier", required=True, callback=not_empty, help="Entity identifier.")
@click.option("--delete-dependents", is_flag=True, help="Also delete the entities that depend on it.")
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def entity_delete(
    client: PortClient, blueprint: str, identifier: str, delete_dependents: bool, run_id: Optional[str]
) -> None:
    """Delete an entity."""
    result = client.delete_entity(blueprint, identifier, delete_dependents=delete_dependents, run_id=run_id)
    emit(
        result,
        outputs={"identifier": identifier},
        summary={"action": "deleted", "blueprint": blueprint, "identifier": identifier},
    )


@entity.command("bulk-upsert", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option(
    "--file",
    "path",
    required=True,
    help="Entities as a JSON array or NDJSON (one object per line); - reads stdin.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Batches of 20 sent at the same time.",
)
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def entity_bulk_upsert(client: PortClient, blueprint: str, path: str, concurrency: int, run_id: Optional[str]) -> None:
    """Upsert many entities (merge); every one is tried, exit 1 if any failed."""
    entities = read_entities(path)
    result = client.bulk_upsert(blueprint, entities, concurrency=concurrency, run_id=run_id)
    failed = len(result["failed"])
    log(f"upserted {len(result['upserted'])} of {len(entities)} entities into {blueprint}; {failed} failed")
    emit(
        result,
        outputs={"identifiers": result["upserted"]},
        summary={
            "action": "bulk upsert",
            "blueprint": blueprint,
            "upserted": len(result["upserted"]),
            "failed": failed,
        },
    )
    if failed:
        first = result["failed"][0]
        raise CirelayError(
            f"{failed} of {len(entities)} entities were not upserted "
            f"(first: #{first['index']} {first['identifier']}: {first['message']})"
        )


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
@click.option("--identifier", help="Entity identifier.  [default: <provider>-<workflow/run id>-<job>]")
@click.option("--relation", "relations", type=KeyValue(), multiple=True, help="NAME=ENTITY_ID (repeatable).")
@click.option("--properties", type=JsonArg(dict), help="Extra properties as JSON; they override the built ones.")
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def ci_report(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    blueprint: str,
    status: str,
    identifier: Optional[str],
    relations: Tuple[Tuple[str, str], ...],
    properties: Optional[Dict[str, Any]],
    run_id: Optional[str],
) -> None:
    """Upsert an entity describing this CircleCI or GitHub Actions job (provider, commit, url, status…)."""
    body = ci_entity(status, identifier, relations, properties)
    result = client.upsert_entity(blueprint, body, merge=True, run_id=run_id)
    emit(
        result,
        outputs={"identifier": (result or {}).get("identifier", body["identifier"]), "entity": result},
        summary={"action": f"reported {status}", **_entity_summary(result, blueprint)},
    )


@cli.group(epilog=EXIT_CODES_HELP)
def run() -> None:
    """Create, read, update and log to self-service action runs (RUN_ID defaults to PORT_RUN_ID)."""


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
) -> None:
    """Update an action run; a finished run cannot change (exit 1)."""
    the_id = _pick_run_id(run_arg, run_id)
    changes = _given(
        status=status.upper() if status else None,
        statusLabel=status_label,
        link=list(links) or None,
        summary=summary,
        externalRunId=external_run_id,
    )
    if not changes:
        raise click.UsageError(
            "nothing to update: give --status, --status-label, --link, --summary or --external-run-id"
        )
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
    """Add a line to an action run's log (sent once, never retried)."""
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
