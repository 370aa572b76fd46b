#!/usr/bin/env python3
"""Builds the side-by-side table from bench/run.sh's raw output (db_bench and engine_bench lines)."""
import re
import sys

rows = {}  # (label, bench) -> {"rocksdb": (ops, p50, p99), "rdeebee": (...)}
extra = {}
seconds = {}
pending = None  # (label, bench) of the last db_bench result line waiting for its percentiles

for line in open(sys.argv[1]):
    m = re.match(r"\[(\w+)\] (.*)", line.rstrip("\n"))
    if not m:
        continue
    label, text = m.groups()
    r = re.match(r"RESULT name=(\w+) .*?seconds=([\d.]+) ops_per_sec=([\d.]+) p50_us=([\d.]+) "
                 r"p99_us=([\d.]+)(.*)", text)
    if r:
        name, secs, ops, p50, p99, rest = r.groups()
        rows.setdefault((label, name), {})["rdeebee"] = (float(ops), float(p50), float(p99))
        seconds[(label, name)] = float(secs)
        extra[(label, name)] = rest.strip()
        continue
    d = re.match(r"(\w+)\s+:\s+([\d.]+) micros/op (\d+) ops/sec", text)
    if d:
        name, _, ops = d.groups()
        pending = (label, name)
        rows.setdefault(pending, {})["rocksdb"] = (float(ops), 0.0, 0.0)
        continue
    p = re.match(r"Percentiles: P50: ([\d.]+) P75: [\d.]+ P99: ([\d.]+)", text)
    if p and pending:
        ops = rows[pending]["rocksdb"][0]
        rows[pending]["rocksdb"] = (ops, float(p.group(1)), float(p.group(2)))
        pending = None

names = {"fill": "", "read": "", "sync1": " sync, 1 thread", "sync16": " sync, 16 threads",
         "reopen": ""}
print(f"{'workload':34} {'RocksDB ops/s':>14} {'p50 us':>8} {'p99 us':>8} | {'RDeeBee ops/s':>14} "
      f"{'p50 us':>8} {'p99 us':>8} | {'ours/RocksDB':>12}")
for (label, name), v in rows.items():
    if label == "fill" and name in ("fillseq",) and "rocksdb" not in v:
        continue
    if label == "read" and name == "fillseq":
        continue  # the read group's fill only prepares the data
    title = name + names.get(label, "")
    rk = v.get("rocksdb")
    us = v.get("rdeebee")
    rk_s = f"{rk[0]:>14.0f} {rk[1]:>8.2f} {rk[2]:>8.2f}" if rk else f"{'-':>14} {'-':>8} {'-':>8}"
    us_s = f"{us[0]:>14.0f} {us[1]:>8.2f} {us[2]:>8.2f}" if us else f"{'-':>14} {'-':>8} {'-':>8}"
    ratio = f"{us[0] / rk[0]:>12.2f}" if rk and us and rk[0] else f"{'-':>12}"
    if name == "reopen" and us:
        us_s = f"{'':>14} {'':>8} {'':>8}"
        ratio = f"{seconds[(label, name)]:>10.2f} s"
    print(f"{title:34} {rk_s} | {us_s} | {ratio}")
print()
for (label, name), e in extra.items():
    if e:
        print(f"  rdeebee {label}/{name}: {e}")
