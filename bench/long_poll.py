#!/usr/bin/env python3
"""Helper of bench/long_poll.sh: the HTTP clients of the long-poll benchmark (standard library + requests).

Subcommands (bench/long_poll.sh runs them; each writes what it saw to files or stdout):
  setup   BASE WORKDIR      as the bootstrap admin, create a worker and a user account, log each in and
                            give each a personal API token: WORKDIR/worker-token, WORKDIR/user-token
  worker  BASE ...          one external worker: lease (max 1), complete each job at once; records per job
                            the CLOCK_MONOTONIC time its lease answer arrived
  submit  BASE ...          noop jobs on a fixed schedule (open loop); records per job when its POST began
  report  ...               joins the two: submit-to-start per job, percentiles
  idle    BASE ...          server CPU over a window with no waiting worker, then with N waiting workers

All times are time.monotonic() (CLOCK_MONOTONIC on Linux), comparable across processes of one machine.
"""

import argparse
import json
import math
import os
import sys
import threading
import time

import requests

JSON = {"Content-Type": "application/json"}


def die(message):
    print(f"long_poll.py: error: {message}", file=sys.stderr)
    sys.exit(1)


def session(token):
    s = requests.Session()
    s.headers.update(JSON)
    s.headers["Authorization"] = f"Bearer {token}"
    return s


# ---- setup ---------------------------------------------------------------------------------------
def login(base, username, password):
    r = requests.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password}, timeout=30)
    if r.status_code != 200:
        die(f"login as {username}: {r.status_code} {r.text[:300]}")
    return r.json()["access_token"]


def cmd_setup(args):
    with open(os.path.join(args.workdir, "admin-password")) as f:
        admin_password = f.read().strip()
    admin = session(login(args.base, "admin", admin_password))
    # Passwords the policy accepts; neither resembles its account's name.
    accounts = {
        "worker": ("bench-worker", "worker", "Quartz otter 73 hums at dawn"),
        "user": ("bench-user", "user", "Copper heron 41 naps on tiles"),
    }
    scopes = {"worker": ["worker"], "user": ["jobs:write"]}
    for key, (username, role, password) in accounts.items():
        r = admin.post(f"{args.base}/api/v1/users", json={"username": username, "role": role, "password": password},
                       timeout=30)
        if r.status_code != 201:
            die(f"creating {username}: {r.status_code} {r.text[:300]}")
        own = session(login(args.base, username, password))
        r = own.post(f"{args.base}/api/v1/tokens",
                     json={"name": "long-poll bench", "scopes": scopes[key], "expires_in": 86400}, timeout=30)
        if r.status_code != 201:
            die(f"token for {username}: {r.status_code} {r.text[:300]}")
        path = os.path.join(args.workdir, f"{key}-token")
        with open(path, "w") as f:
            f.write(r.json()["token"] + "\n")
        os.chmod(path, 0o600)


def read_token(workdir, key):
    with open(os.path.join(workdir, f"{key}-token")) as f:
        return f.read().strip()


# ---- worker --------------------------------------------------------------------------------------
def cmd_worker(args):
    """Leases (max 1) until --expect jobs were completed or --max-seconds passed.

    Writes one line per job: `START <job id> <answer received> <lease call began>` (monotonic seconds),
    and at the end `CALLS <lease calls> <empty answers>`. Any answer but 200 ends it with exit status 2."""
    s = session(read_token(args.workdir, "worker"))
    lease_url = f"{args.base}/api/v1/worker/lease"
    body = {"queues": ["default"], "max": 1}
    if args.wait_seconds > 0:
        body["wait_seconds"] = args.wait_seconds
    done = calls = empty = 0
    deadline = time.monotonic() + args.max_seconds
    with open(args.out, "w", buffering=1) as out:
        open(args.ready, "w").close()  # the first lease call goes out now
        while done < args.expect and time.monotonic() < deadline:
            began = time.monotonic()
            r = s.post(lease_url, json=body, timeout=args.wait_seconds + 30)
            received = time.monotonic()
            calls += 1
            if r.status_code != 200:
                out.write(f"ERROR lease {r.status_code} {r.text[:200]!r}\n")
                out.write(f"CALLS {calls} {empty}\n")
                sys.exit(2)
            jobs = r.json()["jobs"]
            if not jobs:
                empty += 1
                if args.wait_seconds == 0:
                    time.sleep(args.poll_interval)
                continue
            for job in jobs:
                out.write(f"START {job['id']} {received:.6f} {began:.6f}\n")
                c = s.post(f"{args.base}/api/v1/worker/jobs/{job['id']}/complete",
                           json={"lease_id": job["lease_id"]}, timeout=30)
                if c.status_code != 200:
                    out.write(f"ERROR complete {c.status_code} {c.text[:200]!r}\n")
                    out.write(f"CALLS {calls} {empty}\n")
                    sys.exit(2)
                done += 1
        out.write(f"CALLS {calls} {empty}\n")
    if done < args.expect:
        print(f"long_poll.py: worker: {done} of {args.expect} jobs started in {args.max_seconds} s", file=sys.stderr)
        sys.exit(3)


# ---- submit --------------------------------------------------------------------------------------
def cmd_submit(args):
    """RATE x DURATION noop jobs, job i due at t0 + i/RATE, spread over THREADS threads (each its own
    connection; job i on thread i mod THREADS). A late job goes at once. Writes one line per job:
    `SUBMIT <job id> <POST began> <201 received> <due>`, or `ERROR ...` (exit status 2 at the end)."""
    token = read_token(args.workdir, "user")
    total = int(round(args.rate * args.duration))
    url = f"{args.base}/api/v1/jobs"
    payload = json.dumps({"task": "noop", "args": {}})
    t0 = time.monotonic() + 0.5
    results = [None] * total
    errors = []

    def run(first):
        s = session(token)
        for i in range(first, total, args.threads):
            due = t0 + i / args.rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            began = time.monotonic()
            try:
                r = s.post(url, data=payload, timeout=30)
            except requests.RequestException as e:
                errors.append(f"job {i}: {e}")
                continue
            acked = time.monotonic()
            if r.status_code != 201:
                errors.append(f"job {i}: {r.status_code} {r.text[:200]!r}")
                continue
            results[i] = (r.json()["id"], began, acked, due)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args.out, "w") as out:
        for e in errors:
            out.write(f"ERROR {e}\n")
        for res in results:
            if res is not None:
                out.write("SUBMIT %s %.6f %.6f %.6f\n" % res)
    if errors:
        print(f"long_poll.py: submit: {len(errors)} of {total} submits failed; first: {errors[0]}", file=sys.stderr)
        sys.exit(2)


# ---- report --------------------------------------------------------------------------------------
def percentile(sorted_values, p):
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def cmd_report(args):
    """Prints `name value` lines: count, p50, p90, p99, max, mean (ms), and the schedule's figures."""
    submits, starts, lease_began, problems = {}, {}, {}, []
    calls = empty = 0
    with open(args.submits) as f:
        for line in f:
            parts = line.split()
            if parts[0] == "SUBMIT":
                submits[parts[1]] = (float(parts[2]), float(parts[3]), float(parts[4]))
            else:
                problems.append("submit " + line.strip())
    with open(args.starts) as f:
        for line in f:
            parts = line.split()
            if parts[0] == "START":
                if parts[1] in starts:
                    problems.append(f"job {parts[1]} started twice")
                starts[parts[1]] = float(parts[2])
                lease_began[parts[1]] = float(parts[3])
            elif parts[0] == "CALLS":
                calls, empty = int(parts[1]), int(parts[2])
            else:
                problems.append("worker " + line.strip())
    missing = [j for j in submits if j not in starts]
    unknown = [j for j in starts if j not in submits]
    if missing:
        problems.append(f"{len(missing)} submitted job(s) never started, e.g. {missing[0]}")
    if unknown:
        problems.append(f"{len(unknown)} started job(s) were not submitted in this run, e.g. {unknown[0]}")
    if len(submits) != args.expect:
        problems.append(f"{len(submits)} of {args.expect} submits answered 201")
    delays = sorted((starts[j] - submits[j][0]) * 1000 for j in submits if j in starts)
    began = sorted(v[0] for v in submits.values())
    late = sorted((v[0] - v[2]) * 1000 for v in submits.values())
    round_trips = sorted((v[1] - v[0]) * 1000 for v in submits.values())
    figures = {
        "count": len(delays),
        "p50": percentile(delays, 50),
        "p90": percentile(delays, 90),
        "p99": percentile(delays, 99),
        "max": delays[-1] if delays else float("nan"),
        "mean": sum(delays) / len(delays) if delays else float("nan"),
        "rate_held": (len(began) - 1) / (began[-1] - began[0]) if len(began) > 1 else float("nan"),
        "late_p99": percentile(late, 99),
        "late_max": late[-1] if late else float("nan"),
        "submit_p50": percentile(round_trips, 50),
        "submit_p99": percentile(round_trips, 99),
        "lease_calls": calls,
        "empty_leases": empty,
    }
    for name, value in figures.items():
        print(f"{name} {value:.3f}" if isinstance(value, float) else f"{name} {value}")
    if args.histogram and delays:
        # Counts per millisecond bucket up to 20 ms, then coarser: where the tail sits.
        edges = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50, 100, 200, 500, 1000, 2000]
        counts, lo = [], 0.0
        for hi in edges + [math.inf]:
            n = sum(1 for d in delays if lo <= d < hi)
            if n:
                counts.append(f"{lo:g}-{hi:g}:{n}")
            lo = hi
        print("histogram " + " ".join(counts), file=sys.stderr)
    if args.histogram and delays:
        # Where the tail comes from: per second of the run, the p99 and the jobs over 10 ms (a slow start
        # or spikes spread over the run); and for those jobs, whether their own submit was slow (the job
        # is not visible before the submit's commit) and whether the worker was busy (its lease call
        # began after the submit: the job waited for the previous job's complete).
        first = began[0]
        per_second = {}
        for j, (b, _acked, _due) in submits.items():
            if j in starts:
                per_second.setdefault(int(b - first), []).append((starts[j] - b) * 1000)
        print("per-second p99 (ms) / jobs over 10 ms: " + " ".join(
            f"{sec}:{percentile(sorted(v), 99):.1f}/{sum(1 for d in v if d > 10)}"
            for sec, v in sorted(per_second.items())), file=sys.stderr)
        tail = [j for j in submits if j in starts and (starts[j] - submits[j][0]) * 1000 > 10]
        if tail:
            own = sorted((submits[j][1] - submits[j][0]) * 1000 for j in tail)
            busy = sum(1 for j in tail if lease_began[j] > submits[j][0])
            print(f"tail: {len(tail)} jobs over 10 ms; their own submit round trip p50 {percentile(own, 50):.1f} ms, "
                  f"max {own[-1]:.1f} ms; the worker was busy when {busy} of them were submitted", file=sys.stderr)
    for p in problems:
        print(f"PROBLEM {p}")
    sys.exit(2 if problems else 0)


# ---- idle ----------------------------------------------------------------------------------------
def cpu_ticks(pid):
    """utime + stime of the process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5), counted after the comm field


def cpu_window(pid, seconds):
    """% of one core the process used over `seconds` of wall time from now."""
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(seconds)
    t1, c1 = time.monotonic(), cpu_ticks(pid)
    return 100.0 * (c1 - c0) / hz / (t1 - t0), (c1 - c0), t1 - t0


def cmd_cpu(args):
    """Prints `cpu <% of a core> <ticks> <seconds>` for the process over the window."""
    pct, ticks, secs = cpu_window(args.pid, args.seconds)
    print(f"cpu {pct:.3f} {ticks} {secs:.3f}")


def cmd_idle(args):
    """IDLE_WORKERS threads, each its own connection, loop lease calls with wait_seconds and nothing
    submitted. Once every thread's first call has gone out (plus --settle seconds), the server's CPU is
    measured for --seconds; then the threads finish the call they are in and stop. Every call must be
    answered 200 with no job, and no earlier than its wait (else: PROBLEM lines, exit status 2)."""
    token = read_token(args.workdir, "worker")
    url = f"{args.base}/api/v1/worker/lease"
    body = {"queues": ["default"], "max": 1, "wait_seconds": args.wait_seconds}
    stop = threading.Event()
    started = threading.Semaphore(0)
    lock = threading.Lock()
    calls = []  # (status, jobs, seconds waited, problem text)

    def run():
        s = session(token)
        first = True
        while not stop.is_set():
            if first:
                started.release()
                first = False
            began = time.monotonic()
            try:
                r = s.post(url, json=body, timeout=args.wait_seconds + 30)
            except requests.RequestException as e:
                with lock:
                    calls.append((None, 0, time.monotonic() - began, str(e)))
                return
            waited = time.monotonic() - began
            n = len(r.json().get("jobs", [])) if r.status_code == 200 else 0
            with lock:
                calls.append((r.status_code, n, waited, "" if r.status_code == 200 else r.text[:200]))
            if r.status_code != 200:
                return

    threads = [threading.Thread(target=run, daemon=True) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for _ in threads:
        started.acquire()
    time.sleep(args.settle)
    pct, ticks, secs = cpu_window(args.pid, args.seconds)
    in_window = len(calls)
    stop.set()
    for t in threads:
        t.join(args.wait_seconds + 40)
    alive = sum(1 for t in threads if t.is_alive())
    print(f"cpu {pct:.3f} {ticks} {secs:.3f}")
    print(f"calls {len(calls)}")
    print(f"calls_answered_in_window {in_window}")
    waited = sorted(c[2] for c in calls)
    print(f"waited_min {waited[0] if waited else float('nan'):.3f}")
    print(f"waited_max {waited[-1] if waited else float('nan'):.3f}")
    problems = []
    bad = [c for c in calls if c[0] != 200]
    if bad:
        statuses = {}
        for c in bad:
            statuses[c[0]] = statuses.get(c[0], 0) + 1
        problems.append(f"{len(bad)} call(s) not answered 200: {statuses}; first: {bad[0][3]!r}")
    with_jobs = sum(1 for c in calls if c[1])
    if with_jobs:
        problems.append(f"{with_jobs} call(s) leased a job (nothing was submitted)")
    early = [c for c in calls if c[0] == 200 and c[2] < args.wait_seconds - 0.05]
    if early:
        problems.append(f"{len(early)} call(s) answered before their wait ended (shortest {min(c[2] for c in early):.3f} s)")
    if len(calls) < args.workers:
        problems.append(f"only {len(calls)} calls answered for {args.workers} workers")
    if alive:
        problems.append(f"{alive} worker thread(s) still waiting {args.wait_seconds + 40} s after the window")
    for p in problems:
        print(f"PROBLEM {p}")
    sys.exit(2 if problems else 0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("setup")
    a.add_argument("base")
    a.add_argument("workdir")
    a.set_defaults(func=cmd_setup)

    a = sub.add_parser("worker")
    a.add_argument("base")
    a.add_argument("workdir")
    a.add_argument("--wait-seconds", type=int, default=0, help="long-poll wait; 0: poll")
    a.add_argument("--poll-interval", type=float, default=1.0, help="sleep after an empty answer (polling)")
    a.add_argument("--expect", type=int, required=True)
    a.add_argument("--max-seconds", type=float, required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--ready", required=True, help="file created just before the first lease call")
    a.set_defaults(func=cmd_worker)

    a = sub.add_parser("submit")
    a.add_argument("base")
    a.add_argument("workdir")
    a.add_argument("--rate", type=float, required=True)
    a.add_argument("--duration", type=float, required=True)
    a.add_argument("--threads", type=int, default=4)
    a.add_argument("--out", required=True)
    a.set_defaults(func=cmd_submit)

    a = sub.add_parser("report")
    a.add_argument("--submits", required=True)
    a.add_argument("--starts", required=True)
    a.add_argument("--expect", type=int, required=True)
    a.add_argument("--histogram", action="store_true")
    a.set_defaults(func=cmd_report)

    a = sub.add_parser("cpu")
    a.add_argument("--pid", type=int, required=True)
    a.add_argument("--seconds", type=float, required=True)
    a.set_defaults(func=cmd_cpu)

    a = sub.add_parser("idle")
    a.add_argument("base")
    a.add_argument("workdir")
    a.add_argument("--pid", type=int, required=True, help="the server's PID")
    a.add_argument("--workers", type=int, required=True)
    a.add_argument("--seconds", type=float, required=True)
    a.add_argument("--wait-seconds", type=int, default=30)
    a.add_argument("--settle", type=float, default=2.0)
    a.set_defaults(func=cmd_idle)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
