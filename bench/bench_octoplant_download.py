"""Benchmark: download a 1 GiB octoplant export from the fake; memory and speed against a plain copy.

    python bench/bench_octoplant_download.py [--size-mb 1024] [--runs 2] [--link-mbit 1000]

The fake runs in its own process and streams a generated ZIP (stored members, CRCs computed on the
way, never held in memory), paced to a network link of --link-mbit (default 1000: a gigabit LAN
between the CI runner and the octoplant server). Measured, best of --runs each:

- `scripts/octoplant.py export -o FILE` as a CI step runs it (sign in, order, poll, streamed
  download to a temp file, SHA-256, CRC check of every member, os.replace): wall time and the
  peak RSS of that process (ru_maxrss from wait4);
- a plain copy of the same bytes from the same fake: a bare `requests` stream of the download
  URL into /dev/null, in its own process too.

Targets (over the link): peak RSS < 60 MB, script throughput >= 80 % of the plain copy. Exits 1
when one is missed. The same pair is also run against an unpaced fake and printed for information:
there the fake hands out ~2 GB/s over loopback, so the copy to /dev/null is bound by CPU alone and
the script's own work (writing the file, SHA-256, reading it back for the CRC check) shows in full.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "octoplant.py"
RSS_TARGET_MB = 60.0
RATIO_TARGET = 0.80

PLAIN_COPY = """
import sys, requests
url, token, target = sys.argv[1], sys.argv[2], sys.argv[3]
total = 0
with requests.get(url, headers={"Authorization": "Bearer " + token, "Accept-Encoding": "identity"}, stream=True) as r:
    r.raise_for_status()
    with open(target, "wb") as out:
        for chunk in r.iter_content(1 << 20):
            out.write(chunk)
            total += len(chunk)
print(total)
"""


def serve(size: int, rate: float) -> int:
    """Child mode: run the fake with a generated download of `size` bytes until stdin closes."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(1, str(ROOT / "src"))
    from cirelay.emulators.octoplant import make_server

    fake = make_server()
    fake.steps = 1
    fake.download_size = size
    fake.download_rate = rate or None
    print(fake.start(), flush=True)
    sys.stdin.read()
    fake.stop()
    return 0


def run_measured(args: List[str], env: Dict[str, str], workdir: str) -> Tuple[int, float, float, str, str]:
    """Run a child; return its exit code, wall seconds, peak RSS in MB, stdout and stderr."""
    with open(os.path.join(workdir, "out"), "w+") as out, open(os.path.join(workdir, "err"), "w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, elapsed, usage.ru_maxrss / 1024, out.read(), err.read()


class Failed(Exception):
    pass


def measure(size: int, rate: float, runs: int, label: str) -> Tuple[float, float, float, float]:
    """Best plain-copy seconds (to /dev/null, to a file), best script seconds and its peak RSS (MB)."""
    import requests

    from cirelay.emulators.octoplant import CLIENT_ID, CLIENT_SECRET, env_for

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(size), "--serve-rate", str(rate)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        url = server.stdout.readline().strip()
        creds = env_for(url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "OCTOPLANT_", "CIRELAY_"))}
        env.update(creds)
        # An order to copy plainly: sign in and order like the script does, outside the measurement.
        form = {
            "grant_type": "password",
            "username": creds["OCTOPLANT_USERNAME"],
            "password": creds["OCTOPLANT_PASSWORD"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        token = requests.post(f"{url}/v1/oauth2/token", data=form, timeout=10).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        answer = requests.post(
            f"{url}/v1/order", json={"exportContents": {"projectTree": {}}}, headers=auth, timeout=10
        )
        name = answer.json()["name"]
        assert requests.get(f"{url}/v1/order/{name}", headers=auth, timeout=10).json()["done"]
        download_url = f"{url}/v1/order/{name}/download"

        best_plain = best_file = best_script = float("inf")
        peak_rss = 0.0
        with tempfile.TemporaryDirectory(prefix="bench-octoplant-") as workdir:
            target = os.path.join(workdir, "export.zip")
            for run in range(1, runs + 1):
                code, seconds, _rss, out, err = run_measured(
                    [sys.executable, "-c", PLAIN_COPY, download_url, token, os.devnull], env, workdir
                )
                if code != 0 or int(out) != size:
                    raise Failed(f"plain copy failed (exit {code}): {err[-2000:]}")
                best_plain = min(best_plain, seconds)
                plain = seconds
                # The same bytes saved to a file on the disk the script writes to: what `curl -o` costs.
                code, seconds, _rss, out, err = run_measured(
                    [sys.executable, "-c", PLAIN_COPY, download_url, token, target], env, workdir
                )
                if code != 0 or int(out) != size:
                    raise Failed(f"plain copy to a file failed (exit {code}): {err[-2000:]}")
                os.remove(target)
                best_file = min(best_file, seconds)
                code, seconds, rss, out, err = run_measured(
                    [sys.executable, str(SCRIPT), "export", "-o", target], env, workdir
                )
                if code != 0:
                    raise Failed(f"octoplant.py failed (exit {code}): {err[-2000:]}")
                saved = json.loads(out)["bytes"]
                if saved != size or os.path.getsize(target) != size:
                    raise Failed(f"octoplant.py saved {saved} bytes, expected {size}")
                os.remove(target)
                best_script = min(best_script, seconds)
                peak_rss = max(peak_rss, rss)
                print(
                    f"{label} run {run}: plain copy {plain:.2f} s, octoplant.py {seconds:.2f} s, peak RSS {rss:.1f} MB",
                    file=sys.stderr,
                )
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    return best_plain, best_file, best_script, peak_rss


def report(label: str, size: int, plain: float, to_file: float, script: float) -> float:
    mib = size / (1 << 20)
    ratio = plain / script
    print(f"  {label}:")
    print(f"    plain copy (requests stream to /dev/null): {plain:6.2f} s {mib / plain:8.1f} MiB/s")
    print(f"    plain copy to a file (no checks):          {to_file:6.2f} s {mib / to_file:8.1f} MiB/s")
    print(f"    octoplant.py export (order, stream, SHA-256, CRC check): {script:6.2f} s {mib / script:8.1f} MiB/s")
    print(f"    octoplant.py throughput: {ratio:.0%} of the plain copy")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="export size in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each, the best counts (default 2)")
    parser.add_argument("--link-mbit", type=float, default=1000, help="link speed in Mbit/s (default 1000)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-rate", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve, args.serve_rate)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(1, str(ROOT / "src"))

    size = args.size_mb << 20
    link = f"over a {args.link_mbit:g} Mbit/s link"
    try:
        plain, to_file, script, rss = measure(size, args.link_mbit * 1e6 / 8, args.runs, "link")
        fast_plain, fast_file, fast_script, fast_rss = measure(size, 0, args.runs, "unpaced")
    except Failed as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"octoplant export download, {args.size_mb} MiB from the fake, best of {args.runs}:")
    ratio = report(link, size, plain, to_file, script)
    report("unpaced loopback, CPU-bound (for information, no target)", size, fast_plain, fast_file, fast_script)
    peak = max(rss, fast_rss)
    rss_ok, ratio_ok = peak < RSS_TARGET_MB, ratio >= RATIO_TARGET
    print(
        f"  peak RSS of octoplant.py: {peak:.1f} MB (target < {RSS_TARGET_MB:.0f} MB): {'ok' if rss_ok else 'MISSED'}"
    )
    print(
        f"  throughput {link}: {ratio:.0%} of the plain copy (target >= {RATIO_TARGET:.0%}): "
        f"{'ok' if ratio_ok else 'MISSED'}"
    )
    return 0 if rss_ok and ratio_ok else 1


if __name__ == "__main__":
    sys.exit(main())
