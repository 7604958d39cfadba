"""The README's demo command and the fakes' serve command work as documented."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from cirelay.emulators import available
from tests.conftest import ROOT, clean_env


def test_demo_runs_every_platform_end_to_end() -> None:
    names = [name for name, _ in available()]
    done = subprocess.run(
        [sys.executable, "-m", "demo"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.splitlines()[-1].rstrip() == f"demo finished: {', '.join(names)}".rstrip()
    for name in names:
        if (ROOT / "demo" / f"{name}.py").exists():
            assert f"######## {name}" in done.stdout


def test_serve_writes_env_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    env_file = tmp_path / "fakes.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cirelay.emulators", "serve", "--format", "dotenv", "--env-file", str(env_file)],
        cwd=tmp_path,
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert env_file.exists(), proc.stderr.read() if proc.stderr else ""
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert env.pop("CIRELAY_EMULATORS_PID") == str(proc.pid)
        urls = [v for k, v in env.items() if k.endswith(("_URL", "_ENDPOINT"))]
        assert len(urls) >= len(available())
        for url in urls:
            assert url.startswith(("http://127.0.0.1:", "https://127.0.0.1:"))
            # Any HTTP answer proves the fake is listening there.
            assert requests.get(url, timeout=5, verify=False).status_code in range(200, 600)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def _demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "demo", *args], cwd=ROOT, env=clean_env(), capture_output=True, text=True, check=False
    )


def test_demo_help_shows_usage_and_a_bad_platform_is_exit_2() -> None:
    done = _demo("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m demo [-h] [PLATFORM ...]")
    bad = subprocess.run(
        [sys.executable, "-m", "demo", "jenkins"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1] == (
        "python -m demo: error: unknown platform 'jenkins': choose from port, zadig, codearts, octoplant"
    )
    assert bad.stdout == ""
