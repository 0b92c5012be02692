"""`python -m bench`: run every benchmark, print a table, write JSON to bench/results/."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

from bench import bench_engine, bench_intents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200, help="customers in the engine benchmark")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    print("engine: 5-message surveys per customer, SQLite, no network ...", flush=True)
    engine = bench_engine.run(args.customers, args.concurrency)
    print("intents: time per message against 100 / 1,000 / 10,000 example phrases ...", flush=True)
    intents = bench_intents.run()

    e, b = engine["engine"], engine["baseline_store_and_reply"]
    print()
    print(f"{'benchmark':<44} {'engagebot':>12} {'baseline':>12} {'ratio':>8}")
    print(f"{'engine msgs/s (SQLite)':<44} {e['messages_per_second']:>12} {b['messages_per_second']:>12} "
          f"{engine['throughput_ratio_vs_baseline']:>8}")  # fmt: skip
    print(f"{'engine p50 / p99 ms':<44} {e['p50_ms']:>5} / {e['p99_ms']:<5}{b['p50_ms']:>6} / {b['p99_ms']:<5}")
    for row in intents:
        label = f"intent ms/message @ {row['phrases']:,} phrases"
        print(f"{label:<44} {row['engagebot_ms_per_message']:>12} {row['naive_loop_ms_per_message']:>12} "
              f"{row['speedup_vs_naive']:>7}x")  # fmt: skip
    print("(engine baseline: store inbound + one reply per message; intent baseline: naive WRatio loop)")

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {"machine": platform.platform(), "python": platform.python_version(), "engine": engine, "intents": intents}
    path = args.out / f"bench-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
