"""Benchmark: `port.py entity bulk-upsert` of 1,000 entities against the fake Port with 20 ms latency.

    python bench/bench_port_bulk.py [--entities 1000] [--latency 0.02] [--concurrency 4] [--repeat 3]

Port takes at most 20 entities per bulk request, so 1,000 entities need ceil(1000/20) = 50
requests; with N in flight the ideal is ceil(50/N) round trips of `latency` each. The script
runs the real CLI in a subprocess (a CI step), and reads from the fake when each request arrived
and was answered. It prints the requests made, the process wall time and the bulk phase (first
bulk request in to last bulk reply out) beside that ideal. The target is a bulk phase within 2x
of the ideal; the exit code is 1 when it is missed (best of --repeat runs) or any entity failed.
Process wall time also holds Python's start-up and the token request: it is shown, not judged.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "src"))  # cirelay.emulators, installed or not

from cirelay.emulators import port as fakeport  # noqa: E402

BULK_PATH = "/v1/blueprints/microservice/entities/bulk"
TARGET = 2.0


def one_run(entities: int, latency: float, concurrency: int, folder: Path) -> Dict[str, float]:
    fake = fakeport.make_server()
    fake.latency = latency
    fake.check_contract = False  # the tests check every request against Port's spec; here it would time jsonschema
    fake.start()
    try:
        data = folder / "entities.ndjson"
        with data.open("w", encoding="utf-8") as handle:
            for n in range(entities):
                item = {"identifier": f"bench-{n:05d}", "title": f"Bench {n}", "properties": {"region": "eu", "n": n}}
                handle.write(json.dumps(item) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PORT_", "GITHUB_", "CIRCLE"))}
        env.update(fakeport.env_for(fake.url))
        env["PORT_TOKEN_CACHE"] = "0"  # every run pays for its token, as a job's first step does
        command = [sys.executable, str(ROOT / "scripts" / "port.py"), "entity", "bulk-upsert", "-b", "microservice"]
        command += ["--file", str(data), "--concurrency", str(concurrency)]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=600)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"bulk-upsert failed (exit {done.returncode}):\n{done.stderr}")
        result = json.loads(done.stdout)
        if len(result["upserted"]) != entities or result["failed"]:
            raise SystemExit(
                f"expected {entities} upserted, got {len(result['upserted'])}; failed: {result['failed'][:3]}"
            )
        bulk: List[Tuple[str, str, float, float]] = [t for t in fake.timings if t[1] == BULK_PATH]
        phase = max(t[3] for t in bulk) - min(t[2] for t in bulk)
        return {"wall": wall, "phase": phase, "requests": float(len(fake.requests)), "bulk_requests": float(len(bulk))}
    finally:
        fake.stop()


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/bench_port_bulk.py")
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds the fake waits before each answer")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best one is judged")
    args = parser.parse_args(argv)

    batches = math.ceil(args.entities / 20)
    ideal_trips = math.ceil(batches / args.concurrency)
    ideal = ideal_trips * args.latency
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(max(1, args.repeat)):
            runs.append(one_run(args.entities, args.latency, args.concurrency, Path(folder)))
    best = min(runs, key=lambda r: r["phase"])
    ratio = best["phase"] / ideal
    ms = args.latency * 1000
    lines = [
        f"entity bulk-upsert: {args.entities} entities, {ms:g} ms latency, concurrency {args.concurrency}",
        f"  requests made        {best['requests']:.0f} ({best['bulk_requests']:.0f} bulk + 1 token); "
        f"ideal {batches} + 1",
        f"  ideal round trips    ceil({args.entities}/20)/{args.concurrency} -> {ideal_trips} x {ms:g} ms "
        f"= {ideal:.3f} s",
        f"  bulk phase           {best['phase']:.3f} s = {best['phase'] / args.latency:.1f} round trips, "
        f"ratio {ratio:.2f}x",
        f"  process wall time    {best['wall']:.3f} s (start-up + token + bulk; {best['wall'] / ideal:.2f}x the ideal)",
        "  runs (phase / wall)  " + ", ".join(f"{r['phase']:.3f}/{r['wall']:.3f} s" for r in runs),
    ]
    print("\n".join(lines))
    if ratio > TARGET:
        print(f"MISSED: bulk phase is {ratio:.2f}x the ideal (target within {TARGET:g}x)")
        return 1
    print(f"OK: within {TARGET:g}x of the ideal")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
