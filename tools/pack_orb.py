"""Pack orb/src into one orb.yml offline, following the rules of `circleci orb pack`.

    python tools/pack_orb.py [SRC] [-o OUT]     (defaults: orb/src → dist/orb.yml; "-o -" prints)

The packed orb goes to dist/orb.yml, where orb-tools' pack job puts it too: outside orb/, so
`yamllint orb/` keeps checking only the source (the packed file's inlined scripts are long lines).

The real pack (CircleCI CLI, used by orb-tools' pack job in .circleci/config.yml) cannot be
installed here, so this mirrors what it does:

- `@orb.yml` is the root; every folder among commands/, jobs/, executors/ and examples/ becomes
  a key and every YAML file in it a child named after the file (`commands/port_get_entity.yml` →
  `commands.port_get_entity`); other folders (scripts/) and non-YAML files are not keys;
- under commands, jobs and executors (not examples), a string value that is exactly
  `<<include(path)>>` is replaced by the text of that file, `path` being relative to SRC, with
  every `<<` in it escaped to `\\<<` so CircleCI does not read it as a parameter; a value holding
  an include plus other text, or two includes, is an error, as in the CLI.

Include paths: the bash wrappers sit in orb/src/scripts/ (`<<include(scripts/run.sh)>>`); the
Python scripts are included from the repository's own scripts/ folder as
`<<include(../../scripts/port.py)>>`. The CLI joins the path onto the source folder with Go's
filepath.Join and reads it, so `..` works there the same way; one copy of each script, no copy
step and no symlink.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC = ROOT / "orb" / "src"
DEFAULT_OUT = ROOT / "dist" / "orb.yml"  # as orb-tools/pack; not under orb/, which yamllint checks
# The keys the CLI's orb schema keeps, in its order; folders become the last four.
TOP_KEYS = ("version", "description", "display", "orbs", "commands", "executors", "jobs", "examples")
FOLDERS = ("commands", "executors", "jobs", "examples")
INCLUDE_SCOPES = ("jobs", "commands", "executors")
# The CLI's own pattern (circleci-cli process/process.go).
INCLUDE = re.compile(r"<<[\s]*include\(([-\w/.]+)\)?[\s]*>>")


class PackError(Exception):
    pass


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PackError(f"{path}: {exc}")


def resolve_include(value: str, src: Path) -> str:
    """The included file's text (with `<<` escaped) when value is an include, else value."""
    matches = list(INCLUDE.finditer(value))
    if not matches:
        return value
    if len(matches) > 1:
        raise PackError(f"multiple include statements: {value!r}")
    if matches[0].group(0) != value:
        raise PackError(f"entire string must be include statement: {value!r}")
    path = Path(os.path.normpath(src / matches[0].group(1)))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise PackError(f"could not open {path} for inclusion")
    return text.replace("<<", "\\<<")


def _inline(node: Any, src: Path) -> Any:
    if isinstance(node, str):
        return resolve_include(node, src)
    if isinstance(node, dict):
        return {key: _inline(value, src) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, src) for value in node]
    return node


def pack(src: Path = DEFAULT_SRC) -> Dict[str, Any]:
    """The packed orb as a dict."""
    root_file = src / "@orb.yml"
    if not root_file.is_file():
        raise PackError(f"{root_file} not found, are you sure this is the orb root?")
    tree: Dict[str, Any] = dict(_load(root_file) or {})
    for folder in FOLDERS:
        directory = src / folder
        if not directory.is_dir():
            continue
        children: Dict[str, Any] = dict(tree.get(folder) or {})
        for path in sorted(directory.iterdir()):
            if path.is_file() and path.suffix in (".yml", ".yaml"):
                children[path.stem] = _load(path)
        tree[folder] = children
    for scope in INCLUDE_SCOPES:
        if scope in tree:
            tree[scope] = _inline(tree[scope], src)
    return {key: tree[key] for key in TOP_KEYS if key in tree}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(orb: Dict[str, Any]) -> str:
    return yaml.dump(orb, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/pack_orb.py", description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", default=str(DEFAULT_SRC), help="orb source folder (default orb/src)")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUT), help="where to write (default dist/orb.yml)")
    args = parser.parse_args(argv)
    try:
        text = dump(pack(Path(args.src)))
    except PackError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"packed {args.src} into {args.output} ({len(text):,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
