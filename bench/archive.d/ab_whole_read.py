#!/usr/bin/env python3
"""Side-by-side whole reads on two running servers, by the backends' CPU time.

Used for the tier 2 whole-read steps in bench/RESULTS.md (2026-12-06): server A holds a segment in
one tier (or a build), server B the same data in another tier (or another build). Sessions
alternate A, B, B, A, ...; each session runs the query once unrecorded, then 5 times; the CPU time
(utime + stime of the backend, /proc/<pid>/stat) and minor faults of each run are read around it.
Prints the medians over the recorded runs and the first run of each session. Run it as root or as
the servers' OS user, on the servers' machine (it reads /proc of their backends).

  ab_whole_read.py --a /var/tmp/a:58330 --b /var/tmp/b:58331 [--sessions 4] [--db postgres]
                   [--query "SELECT ... FROM tieredlog.read('archive')"]

Not a timed test: it exits 0 unless a query fails or the two servers return different results.
"""
import argparse
import os
import statistics
import subprocess
import sys

DEFAULT_QUERY = ("SELECT count(*), sum(length(key) + length(payload::text) + length(rid) + length(source) "
                 "+ length(origin)), sum(seq), max(ts) FROM tieredlog.read('archive')")
TICK_MS = 1000.0 / os.sysconf('SC_CLK_TCK')


def backend_stat(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[7]), (int(fields[11]) + int(fields[12])) * TICK_MS   # minflt, utime + stime


def session(host, port, db, query, runs=6):
    psql = subprocess.Popen(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", "postgres",
                             "-d", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    psql.stdin.write("SELECT pg_backend_pid();\n")
    psql.stdin.flush()
    pid = int(psql.stdout.readline())
    out = []
    result = None
    for _ in range(runs):
        f0, c0 = backend_stat(pid)
        psql.stdin.write(query.rstrip(";") + ";\n")
        psql.stdin.flush()
        line = psql.stdout.readline()
        if not line:
            sys.exit(f"query failed on {host}:{port}")
        f1, c1 = backend_stat(pid)
        if result is not None and line != result:
            sys.exit(f"{host}:{port} returned different results within one session")
        result = line
        out.append((c1 - c0, f1 - f0))
    psql.stdin.close()
    psql.wait()
    return result, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="socket directory:port of server A")
    ap.add_argument("--b", required=True, help="socket directory:port of server B")
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--db", default="postgres")
    ap.add_argument("--query", default=DEFAULT_QUERY)
    args = ap.parse_args()
    servers = {"A": args.a.rsplit(":", 1), "B": args.b.rsplit(":", 1)}
    cpu = {"A": [], "B": []}
    faults = {"A": [], "B": []}
    first = {"A": [], "B": []}
    results = {}
    for s in range(args.sessions):
        for name in ("A", "B") if s % 2 == 0 else ("B", "A"):
            host, port = servers[name]
            result, runs = session(host, port, args.db, args.query)
            results.setdefault(name, result)
            first[name].append(runs[0])
            cpu[name] += [c for c, _ in runs[1:]]
            faults[name] += [f for _, f in runs[1:]]
    if results["A"] != results["B"]:
        sys.exit(f"A returned {results['A'].strip()}, B returned {results['B'].strip()}")
    a, b = statistics.median(cpu["A"]), statistics.median(cpu["B"])
    print(f"A: CPU median {a:.0f} ms, {statistics.median(faults['A']):.0f} minor faults per read")
    print(f"B: CPU median {b:.0f} ms, {statistics.median(faults['B']):.0f} minor faults per read")
    print(f"B / A CPU time: {b / a:.3f}")
    for name in ("A", "B"):
        print(f"first read of each session on {name} (CPU ms, faults): "
              + ", ".join(f"{c:.0f}/{f}" for c, f in first[name]))


if __name__ == "__main__":
    main()
