"""`python -m bench`: run every benchmark, print a table, write JSON to bench/results/."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

from bench import bench_engine, bench_inbound, bench_intents, bench_memory, bench_outbound, bench_reports, bench_scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200, help="customers in the engine benchmark")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    names = "engine, intents, inbound, outbound, scale, memory, reports"
    parser.add_argument("--only", action="append", help=f"only this benchmark (repeatable): {names}")
    parser.add_argument("--inbound-customers", type=int, default=50, help="customers at once in the inbound benchmark")
    parser.add_argument(
        "--inbound-rounds", type=int, default=4, help="surveys per customer in the inbound saturation run"
    )
    parser.add_argument("--inbound-rate", type=float, default=100, help="messages/s offered in the fixed-rate run")
    parser.add_argument("--inbound-seconds", type=float, default=10, help="length of the fixed-rate run")
    # Outbound, scale, memory: PostgreSQL (ENGAGEBOT_BENCH_POSTGRES, default 127.0.0.1:5432); full sizes in README.
    parser.add_argument("--outbound-customers", type=int, default=6000, help="campaign messages (full: 100000)")
    parser.add_argument("--outbound-limit", type=float, default=200, help="the stand-in's overall limit, msgs/s")
    parser.add_argument("--outbound-instances", type=int, default=1, help="engagebot processes sending")
    parser.add_argument("--scale-customers", type=int, default=200_000, help="check-ins to plan (full: 1000000)")
    parser.add_argument("--scale-claim-rows", type=int, default=20_000, help="rows per claim-throughput run")
    parser.add_argument("--memory-messages", type=int, default=5000, help="inbound messages (full: 100000)")
    parser.add_argument("--reports-answers", type=int, default=1_000_000, help="survey answers in the reports bench")
    parser.add_argument("--reports-tickets", type=int, default=100_000, help="tickets in the reports bench")
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout (`git archive` of an older commit) whose engagebot "
        "the inbound and outbound benchmarks also measure, in the same run",
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    wanted = set(args.only or ["engine", "intents", "inbound", "outbound", "scale", "memory", "reports"])
    report: dict[str, object] = {"machine": platform.platform(), "python": platform.python_version()}

    if "engine" in wanted:
        print("engine: 5-message surveys per customer, SQLite, no network ...", flush=True)
        report["engine"] = engine = bench_engine.run(args.customers, args.concurrency)
    if "intents" in wanted:
        print("intents: time per message against 100 / 1,000 / 10,000 example phrases ...", flush=True)
        report["intents"] = intents = bench_intents.run()
    if "inbound" in wanted:
        print("inbound: Bot API stand-in -> bot processes (polling, webhook) ...", flush=True)
        report["inbound"] = inbound = bench_inbound.run(
            customers=args.inbound_customers,
            rate=args.inbound_rate,
            seconds=args.inbound_seconds,
            before=args.before,
            rounds=args.inbound_rounds,
        )

    if "outbound" in wanted:
        print("outbound: a campaign through engagebot run to a Bot API stand-in enforcing the limits ...", flush=True)
        report["outbound"] = bench_outbound.run(
            customers=args.outbound_customers,
            limit=args.outbound_limit,
            instances=args.outbound_instances,
            before=args.before,
        )
    if "scale" in wanted:
        print("scale: planning check-ins, claim throughput with 1, 2, 4 dispatchers (PostgreSQL) ...", flush=True)
        report["scale"] = bench_scale.run(customers=args.scale_customers, claim_rows=args.scale_claim_rows)
    if "memory" in wanted:
        print("memory: engagebot run idle, then answering web chat messages ...", flush=True)
        report["memory"] = bench_memory.run(messages=args.memory_messages)
    if "reports" in wanted:
        print("reports: every report over a year of answers and tickets (PostgreSQL) ...", flush=True)
        report["reports"] = bench_reports.run(answers=args.reports_answers, tickets=args.reports_tickets)

    print()
    if "engine" in wanted or "intents" in wanted:
        print(f"{'benchmark':<44} {'engagebot':>12} {'baseline':>12} {'ratio':>8}")
    if "engine" in wanted:
        e, b = engine["engine"], engine["baseline_store_and_reply"]
        print(f"{'engine msgs/s (SQLite)':<44} {e['messages_per_second']:>12} {b['messages_per_second']:>12} "
              f"{engine['throughput_ratio_vs_baseline']:>8}")  # fmt: skip
        print(f"{'engine p50 / p99 ms':<44} {e['p50_ms']:>5} / {e['p99_ms']:<5}{b['p50_ms']:>6} / {b['p99_ms']:<5}")
    if "intents" in wanted:
        for row in intents:
            label = f"intent ms/message @ {row['phrases']:,} phrases"
            print(f"{label:<44} {row['engagebot_ms_per_message']:>12} {row['naive_loop_ms_per_message']:>12} "
                  f"{row['speedup_vs_naive']:>7}x")  # fmt: skip
        print("(engine baseline: store inbound + one reply per message; intent baseline: naive WRatio loop)")
    if "inbound" in wanted:
        print("\n".join(bench_inbound.table(inbound)))
        print("(inbound baselines: python-telegram-bot echo bot, and the survey as a ConversationHandler)")
    for name, module in (
        ("outbound", bench_outbound),
        ("scale", bench_scale),
        ("memory", bench_memory),
        ("reports", bench_reports),
    ):
        if name in wanted:
            print("\n".join(module.table(report[name])))  # type: ignore[arg-type]

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = args.out / f"bench-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
