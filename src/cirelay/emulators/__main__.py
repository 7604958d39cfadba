"""Serve the fake APIs for the demo, the action and orb tests, and CI jobs.

    python -m tests.fakes serve --env-file fakes.env [--platform port]...

Starts the fake of every platform that has a tests/fakes/<platform>.py (or only those named),
each on 127.0.0.1 with a free port, writes the environment a script needs to reach them
(KEY=VALUE lines, e.g. PORT_BASE_URL=…) to the env file once all are listening, and serves until
SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from types import ModuleType
from typing import Dict, List, Optional, Tuple

from tests.fakes.base import FakeServer

PLATFORMS = ("port", "zadig", "codearts", "octoplant")


def available(names: Optional[List[str]] = None) -> List[Tuple[str, ModuleType]]:
    """The fake modules that exist, in the demo's order (all of them when names is empty)."""
    found = []
    for name in names or PLATFORMS:
        if name not in PLATFORMS:
            raise SystemExit(f"unknown platform {name!r}; known: {', '.join(PLATFORMS)}")
        try:
            found.append((name, importlib.import_module(f"tests.fakes.{name}")))
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.fakes.{name}":
                raise
            if names:
                raise SystemExit(f"no fake for {name} yet (tests/fakes/{name}.py)")
    return found


def start_all(names: Optional[List[str]] = None) -> Tuple[List[FakeServer], Dict[str, str], List[str]]:
    """Start the fakes; return the servers, the merged environment and the platform names."""
    servers: List[FakeServer] = []
    env: Dict[str, str] = {}
    started = []
    for name, module in available(names):
        server = module.make_server()
        url = server.start()
        servers.append(server)
        env.update(module.env_for(url))
        started.append(name)
    return servers, env, started


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the fakes and serve until stopped")
    serve.add_argument("--env-file", required=True, help="where to write KEY=VALUE lines once listening")
    serve.add_argument("--platform", action="append", choices=PLATFORMS, help="only these (repeatable)")
    args = parser.parse_args(argv)

    servers, env, started = start_all(args.platform)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tmp = f"{args.env_file}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(f"{k}={v}\n" for k, v in env.items())
    os.replace(tmp, args.env_file)  # readers see the whole file or none
    print(f"fakes listening: {', '.join(started)} (env in {args.env_file})", file=sys.stderr, flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
