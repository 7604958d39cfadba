"""What a script writes besides its result: progress on stderr, GitHub Actions outputs, summary and masks.

In GitHub Actions (GITHUB_ACTIONS=true) a script also speaks the runner's workflow commands
(https://docs.github.com/actions/reference/workflow-commands-for-github-actions): `::error` and
`::warning` annotations, `::group::` folds for long text, `::add-mask::` for tokens made at run time;
it appends outputs to $GITHUB_OUTPUT and a Markdown summary to $GITHUB_STEP_SUMMARY. Workflow commands
go to stderr, since stdout carries only the result (the runner reads both streams).

Anywhere (CircleCI's orb sets it), CIRELAY_ARTIFACTS_DIR names a folder that receives each result as
`<platform>-<command>.json` and the same Markdown summary in `summary.md`, for `store_artifacts`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import uuid
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

# What the command line is doing now (platform, command), set by the CLI before a command runs:
# it titles annotations and the step summary.
_CURRENT: Dict[str, str] = {}

# Status words of every platform, as the icon a summary shows beside them.
_ICONS = {
    "success": "✅",
    "failure": "❌",
    "pending": "⏳",
    "skipped": "⏭",
}
_STATUS_KINDS = {
    "success": ("passed", "success", "succeeded", "completed", "finished", "state_succeeded", "upserted", "deleted"),
    "failure": (
        "failed",
        "failure",
        "timeout",
        "cancelled",
        "canceled",
        "reject",
        "error",
        "state_failed",
        "interrupted",
    ),
    "skipped": ("skipped", "ignored", "unselected", "not_attempted"),
}


_MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]()<>#!|~]")


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def set_context(platform: str, command: str) -> None:
    """Name what runs now ('zadig', 'custom run'), for annotation titles and the summary heading."""
    _CURRENT.update(platform=platform, command=command)


def current_title() -> str:
    """'cirelay zadig custom run' (or just 'cirelay' outside a command)."""
    return " ".join(p for p in ("cirelay", _CURRENT.get("platform"), _CURRENT.get("command")) if p)


def log(message: str) -> None:
    """Everything for people goes to stderr; stdout carries only the result.

    In GitHub Actions a message of several lines (an API's error text can hold line breaks) is
    fenced with ::stop-commands::, so no line of it is taken for a workflow command.
    """
    if "\n" in message and in_github_actions():
        resume = f"cirelay-{uuid.uuid4().hex}"
        message = f"::stop-commands::{resume}\n{message}\n::{resume}::"
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def escape_data(text: str) -> str:
    """A workflow command's message: %, CR and LF encoded so one command stays one line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (title=…): also ':' and ',' encoded."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, title: Optional[str] = None) -> None:
    """An ::error / ::warning / ::notice annotation on the run, in GitHub Actions only."""
    if in_github_actions():
        log(f"::{level} title={escape_property(title or current_title())}::{escape_data(message)}")


def warn(message: str, title: Optional[str] = None) -> None:
    """A warning for people: 'warning: …' on stderr, and an annotation in GitHub Actions."""
    log(f"warning: {message}")
    annotation("warning", message, title)


@contextlib.contextmanager
def log_group(name: str, stream: Optional[IO[str]] = None, *, remote_text: bool = False) -> Iterator[None]:
    """Fold what is written inside into one collapsible group in GitHub Actions (no-op elsewhere).

    stream is where the text goes (stdout for logs printed as the result, stderr by default), so the
    markers stay in order with it. remote_text: what is written inside comes from the remote system (a
    job's log); the runner is told to take no workflow command from it (`::stop-commands::`), so a
    line such as `::add-mask::` or `::endgroup::` in someone's build log stays text.
    """
    out = stream if stream is not None else sys.stderr
    if not in_github_actions():
        yield
        return
    out.write(f"::group::{escape_data(name)}\n")
    resume = f"cirelay-{uuid.uuid4().hex}" if remote_text else None
    if resume:
        out.write(f"::stop-commands::{resume}\n")
    out.flush()
    try:
        yield
    finally:
        if resume:
            out.write(f"\n::{resume}::\n")  # on a line of its own, whatever the log ended with
        out.write("::endgroup::\n")
        out.flush()


def mask(secret: Optional[str]) -> None:
    """Ask GitHub Actions to hide a secret made at run time (a token) from every log."""
    if secret and in_github_actions():
        for line in str(secret).splitlines():
            log(f"::add-mask::{line}")


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def status_kind(status: Any) -> Optional[str]:
    """'success', 'failure', 'pending' or 'skipped' for a status word of any platform; None when not one."""
    if not isinstance(status, str) or not status:
        return None
    word = status.strip().lower()
    for kind, words in _STATUS_KINDS.items():
        if word in words:
            return kind
    return "pending"


def status_icon(status: Any) -> str:
    """✅ ❌ ⏳ ⏭ for a status word, '' when it is none."""
    kind = status_kind(status)
    return _ICONS[kind] if kind else ""


def md_cell(value: Any) -> str:
    """A value as one Markdown table cell or list value: links for URLs, pipes and line breaks escaped."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\r", " ").replace("\n", " ")
    if text.startswith(("https://", "http://")) and not any(c in text for c in " <>"):
        return f"<{text}>"
    # Text from an API is shown as text: no link, image, emphasis or HTML of its making.
    return _MARKDOWN_SPECIAL.sub(r"\\\g<0>", text)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns, for logs that show no Markdown (CircleCI)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def duration(start: Any, end: Any, per_second: int = 1000) -> str:
    """'1m 05s' between two epoch times (milliseconds, or seconds with per_second=1); '' when either is missing."""
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)) or not start or not end or end < start:
        return ""
    seconds = int((end - start) / per_second)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def show_stages(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Optional[str]:
    """A wait's stage table: printed once more as plain text at the end in CircleCI; the Markdown for the summary.

    rows carry the status word in the column headed 'status'; the summary shows its icon beside it.
    """
    if not rows:
        return None
    if os.environ.get("CIRCLECI") == "true":
        log(text_table(headers, rows).rstrip("\n"))
    column = list(headers).index("status") if "status" in headers else -1
    marked = [[f"{status_icon(c)} {c}".strip() if i == column and c else c for i, c in enumerate(row)] for row in rows]
    return md_table(headers, marked)


def render_summary(
    summary: Dict[str, Any],
    *,
    title: Optional[str] = None,
    link: Optional[Tuple[str, str]] = None,
    details: Optional[str] = None,
) -> str:
    """The step summary for people: a heading, a link to the remote thing, its facts, then details."""
    status = summary.get("status")
    icon = status_icon(status)
    heading = title or current_title()
    parts: List[str] = [f"### {icon + ' ' if icon else ''}{md_cell(heading)}\n"]
    if link is not None:
        text, url = link
        parts.append(f"[{md_cell(text)}]({url.replace(')', '%29').replace(' ', '%20')})\n")
    linked = link[1] if link is not None else None
    facts = [(k, v) for k, v in summary.items() if v is not None and v not in ("", linked)]
    if facts:
        lines = []
        for key, value in facts:
            shown = md_cell(value)
            if key == "status" and icon:
                shown = f"{icon} {shown}"
            lines.append(f"- **{md_cell(key)}**: {shown}")
        parts.append("\n".join(lines) + "\n")
    if details:
        parts.append(details.rstrip("\n") + "\n")
    return "\n".join(parts) + "\n"


def write_summary(text: str) -> None:
    """Append Markdown to the job summary (GitHub Actions) and to the artifacts' summary.md."""
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        _append(summary_file, text)
    folder = os.environ.get("CIRELAY_ARTIFACTS_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        _append(os.path.join(folder, "summary.md"), text)


def store_result(text: str) -> Optional[str]:
    """Keep the result JSON as an artifact when CIRELAY_ARTIFACTS_DIR is set; the file's path, else None.

    Named after the command (port-entity-upsert.json); a second result of the same command in one
    job gets -2, -3, … rather than replacing the first.
    """
    folder = os.environ.get("CIRELAY_ARTIFACTS_DIR")
    if not folder:
        return None
    os.makedirs(folder, exist_ok=True)
    stem = "-".join(current_title().split()[1:]) or "cirelay"
    number = 1
    while True:
        path = os.path.join(folder, f"{stem}.json" if number == 1 else f"{stem}-{number}.json")
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text + "\n")
            return path
        except FileExistsError:
            number += 1


def show_result(result: Any) -> str:
    """Print the result JSON on stdout (and keep it as an artifact); the text printed."""
    text = json.dumps(result, indent=2, ensure_ascii=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    store_result(text)
    return text


def emit(
    result: Any,
    outputs: Optional[Dict[str, Any]] = None,
    summary: Optional[Dict[str, Any]] = None,
    *,
    title: Optional[str] = None,
    link: Optional[Tuple[str, str]] = None,
    details: Optional[str] = None,
) -> None:
    """Print the result as JSON on stdout; in GitHub Actions also write outputs and a summary.

    summary holds the facts to show (name -> value); title, link (text, URL) and details (more
    Markdown: a table of stages, the first failures) make it a page worth reading.
    """
    text = show_result(result)
    values = {"result": text}
    for key, value in (outputs or {}).items():
        if value is not None:
            values[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    output_file = os.environ.get("GITHUB_OUTPUT")
    if output_file:
        chunks = []
        for key, value in values.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            chunks.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        _append(output_file, "".join(chunks))
    if summary:
        write_summary(render_summary(summary, title=title, link=link, details=details))
