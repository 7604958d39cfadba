"""The demo: start the bundled fake APIs and run a real pipeline's worth of commands against them.

    python -m demo [platform ...]

Each command runs as a CI step would: `python scripts/<name>.py …` in a subprocess, with the
credentials in the environment. The command line, what it printed on stderr and its JSON result
are shown; the demo stops at the first step whose exit code is not the expected one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "src"))  # the emulators (cirelay.emulators) from a fresh clone, installed or not

from cirelay.emulators import available, start_all  # noqa: E402

PLATFORMS = ("port", "zadig", "codearts", "octoplant")


class DemoFailed(Exception):
    pass


def make_runner(env: Dict[str, str]) -> Any:
    def run(
        title: str, script: str, *args: str, expect: int = 0, input: Optional[str] = None
    ) -> subprocess.CompletedProcess:
        print(f"\n== {title}\n$ python scripts/{script}.py {shlex.join(args)}", flush=True)
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / f"{script}.py"), *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        for line in done.stderr.splitlines():
            print(f"   (stderr) {line}")
        out = done.stdout if len(done.stdout) < 2000 else done.stdout[:2000] + "\n   … (cut)"
        print(out.rstrip())
        print(f"-> exit {done.returncode}", flush=True)
        if done.returncode != expect:
            raise DemoFailed(f"{title}: exit {done.returncode}, expected {expect}")
        return done

    return run


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Start the bundled fake APIs on 127.0.0.1 and run a pipeline's worth of commands against them.",
    )
    parser.add_argument(
        "platforms", nargs="*", metavar="PLATFORM", help=f"only these ({', '.join(PLATFORMS)}); default: all"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.platforms if name not in PLATFORMS]
    if unknown:
        parser.error(f"unknown platform {', '.join(map(repr, unknown))}: choose from {', '.join(PLATFORMS)}")
    names = args.platforms or None
    servers, fake_env, started = start_all(names)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CIRCLE"))}
    env.update(fake_env)
    env["PYTHONUNBUFFERED"] = "1"
    scratch = tempfile.TemporaryDirectory(prefix="cirelay-demo-")
    env["TMPDIR"] = scratch.name  # the scripts' temp files (Port's token cache) go with the demo
    run = make_runner(env)
    try:
        for name, _module in available(started):
            try:
                platform_demo = importlib.import_module(f"demo.{name}")
            except ModuleNotFoundError:
                continue
            print(f"\n######## {name}", flush=True)
            platform_demo.demo(run)
    except DemoFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        for server in servers:
            server.stop()
        scratch.cleanup()
    print(f"\ndemo finished: {', '.join(started)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
