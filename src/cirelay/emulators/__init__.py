"""Emulators of the four APIs cirelay talks to (Port, Zadig, CodeArts Pipeline + IAM, octoplant), on 127.0.0.1.

They follow the real services (each rule cites its source in the module), check requests against the publishers'
contracts shipped in `contracts/` (with jsonschema, the `emulators` extra; without it they still run, unchecked),
and hold a small set of fixtures (`cirelay-emulators fixtures` lists them). The demo, the tests and CI jobs start
them through `start_all`; people through the `cirelay-emulators` command (`python -m cirelay.emulators`).
Standard library only: they run on any Python 3.9+, without requests or click.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple

from cirelay.emulators.base import FakeServer

PLATFORMS = ("port", "zadig", "codearts", "octoplant")


def available(names: Optional[List[str]] = None) -> List[Tuple[str, ModuleType]]:
    """The emulator modules, in the demo's order (all of them when names is empty)."""
    found = []
    for name in names or PLATFORMS:
        if name not in PLATFORMS:
            raise SystemExit(f"unknown platform {name!r}; known: {', '.join(PLATFORMS)}")
        found.append((name, importlib.import_module(f"cirelay.emulators.{name}")))
    return found


def start_all(names: Optional[List[str]] = None) -> Tuple[List[FakeServer], Dict[str, str], List[str]]:
    """Start the emulators; return the servers, the merged environment and the platform names."""
    servers: List[FakeServer] = []
    env: Dict[str, str] = {}
    started = []
    try:
        for name, module in available(names):
            server = module.make_server()
            url = server.start()
            servers.append(server)
            env.update(module.env_for(url))
            started.append(name)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers, env, started


def fixtures(names: Optional[List[str]] = None) -> Dict[str, Any]:
    """What each emulator holds when it starts, by platform (read from a fresh emulator's own state)."""
    return {name: module.fixtures(module.make_server()) for name, module in available(names)}
