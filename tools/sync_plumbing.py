"""Copy the shared plumbing block from scripts/port.py into every other script.

The block sits between the '# --- cirelay plumbing: begin' and '# --- cirelay plumbing: end ---'
lines; tests/test_plumbing.py fails when the copies differ. Edit it in scripts/port.py, then run
`python tools/sync_plumbing.py`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
BLOCK = re.compile(r"^# --- cirelay plumbing: begin.*?^# --- cirelay plumbing: end ---$", re.S | re.M)


def block_of(path: Path) -> str:
    found = BLOCK.search(path.read_text(encoding="utf-8"))
    if not found:
        raise SystemExit(f"{path}: no plumbing block")
    return found.group(0)


def main() -> int:
    reference = block_of(SCRIPTS / "port.py")
    for path in sorted(SCRIPTS.glob("*.py")):
        if path.name in ("port.py", "__init__.py"):
            continue
        text = path.read_text(encoding="utf-8")
        updated = BLOCK.sub(lambda _m: reference, text, count=1)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            print(f"updated {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
