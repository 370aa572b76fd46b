#!/usr/bin/env python3
"""Helpers for bench/peers.sh.

  peers_table.py pglog FILE...   p50 and p99 in ms ("P50 P99") from pgbench per-transaction logs (-l)
  peers_table.py table RESULTS   the side-by-side table from peers.sh's JSON lines
"""
import json
import sys

SYSTEMS = [("rdeebee-stream", "RDeeBee AppendStream"), ("rdeebee", "RDeeBee unary Append"),
           ("postgresql", "PostgreSQL"), ("redis", "Redis Streams"), ("etcd", "etcd")]
OURS = ("rdeebee-stream", "rdeebee")
WORKLOADS = [
    ("single-1", "single-event, 1 client"),
    ("single-16", "single-event, 16 clients"),
    ("single-64", "single-event, 64 clients"),
    ("batch100", "batched 100/request, 16 cl."),
]


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil(q/100 * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


def pglog(files):
    # pgbench -l line: client_id transaction_no time script_no time_epoch time_us [schedule_lag];
    # "time" is the transaction's latency in microseconds.
    lat = []
    for name in files:
        with open(name) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    lat.append(int(fields[2]))
    lat.sort()
    print(f"{percentile(lat, 50) / 1000:.3f} {percentile(lat, 99) / 1000:.3f}")


def fmt_rate(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt_ms(v):
    return "-" if v is None else f"{v:.2f}"


def table(path):
    rows = {}
    half = {}
    for line in open(path):
        r = json.loads(line)
        if r["workload"] == "half-rate-64":
            half[r["system"]] = r
        else:
            rows[(r["system"], r["workload"])] = r

    head = f"{'workload':<29}"
    sub = f"{'':<29}"
    for _, title in SYSTEMS:
        head += f" | {title:^27}"
        sub += f" | {'events/s':>11} {'p50 ms':>7} {'p99 ms':>7}"
    head += " | ours / best peer"
    sub += " | (our best API)"
    print(head)
    print(sub)
    print("-" * len(sub.rstrip()) + "-" * 8)
    workloads = list(WORKLOADS)  # plus any other client counts (PEERS_CLIENTS)
    for n in sorted({r["clients"] for (_, w), r in rows.items() if w.startswith("single-")}):
        if all(w != f"single-{n}" for w, _ in workloads):
            workloads.append((f"single-{n}", f"single-event, {n} clients"))
    workloads.sort(key=lambda w: (w[0].startswith("batch"), int(w[0].split("-")[1])
                                  if w[0].startswith("single-") else 0))
    for workload, title in workloads:
        if not any(w == workload for (_, w) in rows):
            continue
        line = f"{title:<29}"
        for system, _ in SYSTEMS:
            r = rows.get((system, workload))
            line += (f" | {fmt_rate(r and r['events_per_sec']):>11} {fmt_ms(r and r['p50_ms']):>7}"
                     f" {fmt_ms(r and r['p99_ms']):>7}")
        ours = max((rows[(s, workload)]["events_per_sec"] for s in OURS if (s, workload) in rows),
                   default=0)
        peers = [rows[(s, workload)]["events_per_sec"] for s, _ in SYSTEMS
                 if s not in OURS and (s, workload) in rows]
        best = max(peers) if peers else 0
        ratio = f"{ours / best:.2f}x" if ours and best else "-"
        line += f" | {ratio:>8}"
        print(line)
    errors = {s: sum(r.get("errors", 0) for (sy, _), r in rows.items() if sy == s) for s, _ in SYSTEMS}
    for system, title in SYSTEMS:
        if errors[system]:
            print(f"{title}: {errors[system]} failed requests (not counted in events/s)")
    print()
    print("Targets (issue 3): at 64 clients single-event >= 2x the best peer; batched >= 500k events/s;")
    print("p99 <= 10 ms at half the saturation rate.")
    for system, title in SYSTEMS:
        h = half.get(system)
        if h:
            print(f"{title} at half its saturation (64 clients, fixed rate {h['rate']:.0f} "
                  f"requests/s): {h['events_per_sec']:,.0f} events/s, p50 {h['p50_ms']:.2f} ms, "
                  f"p99 {h['p99_ms']:.2f} ms, errors {h.get('errors', 0)}")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "pglog":
        pglog(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
