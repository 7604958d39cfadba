"""Every example the docs mark as runnable runs, as written, against the emulators.

A fenced block whose info string is `sh runnable` (GitHub shows it as plain `sh`) is run with bash,
in document order, against one set of emulators started for the whole file; `sh runnable exit=N`
expects the block to end with exit code N (an example of a failure). The emulators' environment
(what `cirelay-emulators serve` exports) is set, so the credentials and URLs the docs leave to the
CI context are there; the installed `cirelay-*` commands are on PATH, `scripts/` is in the
working folder and so is each script itself (`python port.py …`, as after copying one into a repository).
A doc that drifts from the code fails here; MINIMUM makes sure each doc keeps examples that run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from cirelay.emulators import start_all
from tests.conftest import ROOT, clean_env

# A fence may be indented (inside a list item); its closing fence has the same indent.
FENCE = re.compile(r"^(?P<indent> *)```sh runnable(?: exit=(?P<exit>\d+))?\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def runnable_blocks(path: Path) -> List[Tuple[int, str, int]]:
    """(line number, body, expected exit code) of each runnable block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group("body"), int(m.group("exit") or 0)) for m in FENCE.finditer(text)
    ]


def test_the_fence_parser_finds_blocks_and_their_exit_codes(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "x\n```sh runnable\necho a\n```\n```sh\nnot me\n```\n```sh runnable exit=2\nfalse\n```\n"
        "- item\n\n  ```sh runnable\n  echo b\n  ```\n"
    )
    assert runnable_blocks(doc) == [(2, "echo a\n", 0), (8, "false\n", 2), (13, "  echo b\n", 0)]


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    servers, env, _ = start_all()
    work = tmp_path_factory.mktemp("docs")
    (work / "scripts").symlink_to(ROOT / "scripts")
    for folder in ("tools", "orb"):  # tools/pack_orb.py packs orb/src (docs/ci.md)
        (work / folder).symlink_to(ROOT / folder)
    for script in (ROOT / "scripts").glob("*.py"):
        (work / script.name).symlink_to(script)
    full = clean_env(env)
    full["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), full.get("PATH", "")])
    full["TMPDIR"] = str(work)
    full["CIRELAY_DOCS_WORKDIR"] = str(work)
    try:
        yield full
    finally:
        for server in servers:
            server.stop()


# The least number of runnable examples each doc keeps: a doc whose blocks lost the mark fails here.
MINIMUM = {"README.md": 2, "docs/port.md": 3, "docs/zadig.md": 3, "docs/codearts.md": 3, "docs/octoplant.md": 3}


@pytest.mark.parametrize("name", sorted(MINIMUM))
def test_each_doc_keeps_runnable_examples(name: str) -> None:
    found = runnable_blocks(ROOT / name)
    assert len(found) >= MINIMUM[name], f"{name}: {len(found)} runnable examples, fewer than {MINIMUM[name]}"


CASES = [(path, line, body, code) for path in DOCS for line, body, code in runnable_blocks(path)]


@pytest.mark.parametrize(
    ("path", "line", "body", "code"), CASES, ids=[f"{p.relative_to(ROOT)}:{n}" for p, n, _, _ in CASES]
)
def test_runnable_example(emulated: Dict[str, str], path: Path, line: int, body: str, code: int) -> None:
    strict = "set -euo pipefail\n" if code == 0 else "set -uo pipefail\n"
    done = subprocess.run(
        ["bash", "-c", strict + body],
        cwd=emulated["CIRELAY_DOCS_WORKDIR"],
        env=emulated,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    where = f"{path.relative_to(ROOT)}:{line}"
    assert done.returncode == code, f"{where} ended {done.returncode}, not {code}\n{done.stdout[-2000:]}{done.stderr}"
