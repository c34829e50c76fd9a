import asyncio
import logging
import signal
import subprocess
import threading
import time

import pytest

import rampart
from conftest import both_stores, eventually, worker_process


@pytest.fixture()
def run_worker(worker_client):
    """Runs Worker objects in background threads; stops them after the test."""
    started = []

    def start(worker: rampart.Worker) -> rampart.Worker:
        thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False},
                                  daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(15)


def make_worker(client, queue, **kw):
    kw.setdefault("lease_seconds", 6)
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("max_poll_interval", 0.3)
    # Long-poll, but short: stopping a worker waits for its lease call in flight (the default is 10 s).
    kw.setdefault("wait_seconds", 1)
    return rampart.Worker(client, queues=[queue], **kw)


@both_stores
def test_submit_and_wait_with_sync_and_async_tasks(alice, worker_client, run_worker):
    w = make_worker(worker_client, "ext", concurrency=3)

    @w.task("echo")
    def echo(args, ctx):
        return {"got": args, "job": ctx.job.id, "attempt": ctx.attempt}

    @w.task("noop")
    async def noop(args, ctx):
        await asyncio.sleep(0.01)
        return "async ok"

    run_worker(w)
    a = alice.submit("echo", {"n": 1}, queue="ext")
    b = alice.submit("noop", queue="ext")
    assert alice.wait(a.id, timeout=20).result == {"got": {"n": 1}, "job": a.id, "attempt": 1}
    assert alice.wait(b.id, timeout=20).result == "async ok"


@both_stores
def test_declared_task_type_runs_on_a_python_worker(alice, worker_client, run_worker, caplog):
    caplog.set_level(logging.ERROR, logger="rampart.worker")
    (declared,) = [t for t in alice.tasks() if t["name"] == "report.monthly"]
    assert declared["runs_on"] == "external" and declared["default_queue"] == "declared"
    assert declared["result_schema"]["required"] == ["month", "total"]
    with pytest.raises(rampart.ValidationError) as caught:  # the declared args_schema, checked on submit
        alice.submit("report.monthly", {"month": "March"})
    assert caught.value.status == 422 and "/args/month" in caught.value.pointers

    w = make_worker(worker_client, "declared")

    @w.task("report.monthly")
    def monthly(args, ctx):
        if args["month"] < "2000-01":
            return {"month": args["month"], "total": "n/a"}  # not what result_schema says
        return {"month": args["month"], "total": int(args["month"][5:]) * 100}

    run_worker(w)
    job = alice.submit("report.monthly", {"month": "2026-03"})  # its queue and attempts: the declaration's
    assert job.queue == "declared" and job.max_attempts == 2
    assert alice.wait(job.id, timeout=20).result == {"month": "2026-03", "total": 300}

    # A result the schema refuses fails the job for good (no retry would change the code), with pointers.
    bad = alice.wait(alice.submit("report.monthly", {"month": "1999-12"}).id, timeout=20,
                     raise_on_failure=False)
    assert bad.state == "dead" and bad.attempts == 1 and bad.result is None
    assert "result_schema" in bad.error and "/result/total" in bad.error
    assert any("/result/total" in r.getMessage() for r in caplog.records)


def test_wait_seconds_is_sent_as_a_whole_number(worker_client, monkeypatch):
    sent = []

    class Answer:
        status_code, content = 200, b"{}"

        def json(self):
            return {"jobs": []}

    monkeypatch.setattr(worker_client, "request", lambda method, path, **kw: sent.append(kw) or Answer())
    worker_client.lease(["ext"], max=2, wait_seconds=25.0)
    assert sent[-1]["json"] == {"queues": ["ext"], "max": 2, "wait_seconds": 25}
    assert type(sent[-1]["json"]["wait_seconds"]) is int
    assert sent[-1]["timeout"] >= 35  # the read outlasts the server's wait
    worker_client.lease(["ext"])
    assert "wait_seconds" not in sent[-1]["json"] and sent[-1]["timeout"] is None
    w = rampart.Worker(worker_client, "ext", wait_seconds=20)
    assert w.wait_seconds == 20
    for bad in (2.5, 31, -1):
        with pytest.raises(ValueError):
            rampart.Worker(worker_client, "ext", wait_seconds=bad)


def test_retry_fail_and_exceptions(alice, worker_client, run_worker):
    w = make_worker(worker_client, "ext")
    seen = []

    @w.task("echo")
    def echo(args, ctx):
        seen.append((args["mode"], ctx.attempt))
        if args["mode"] == "fail":
            raise rampart.Fail("bad input, no retry will help")
        if args["mode"] == "retry" and ctx.attempt == 1:
            raise rampart.Retry("try again")
        if args["mode"] == "boom":
            raise KeyError("boom")
        return ctx.attempt

    run_worker(w)
    fail = alice.submit("echo", {"mode": "fail"}, queue="ext", max_attempts=3)
    retry = alice.submit("echo", {"mode": "retry"}, queue="ext", max_attempts=3)
    boom = alice.submit("echo", {"mode": "boom"}, queue="ext", max_attempts=1)
    with pytest.raises(rampart.JobFailed) as caught:
        alice.wait(fail.id, timeout=20)
    assert caught.value.job.attempts == 1 and "no retry" in caught.value.job.error
    assert alice.wait(retry.id, timeout=60).result == 2  # after the server's back-off
    dead = alice.wait(boom.id, timeout=20, raise_on_failure=False)
    assert dead.state == "dead" and "KeyError" in dead.error


def test_progress_seen_by_owner(alice, worker_client, run_worker):
    w = make_worker(worker_client, "ext-progress")
    release = threading.Event()

    @w.task("echo")
    def echo(args, ctx):
        ctx.progress(50, "half way")
        release.wait(20)
        return "done"

    run_worker(w)
    job = alice.submit("echo", {}, queue="ext-progress")
    seen = eventually(lambda: (j := alice.get(job.id)).progress == 50 and j)
    assert seen.state == "running" and seen.progress_message == "half way"
    release.set()
    assert alice.wait(job.id, timeout=20).state == "succeeded"


@both_stores
def test_cancel_of_a_running_job_reaches_ctx_cancelled(alice, worker_client, run_worker):
    w = make_worker(worker_client, "ext-cancel", lease_seconds=6)  # heartbeats every 2 s
    started = threading.Event()
    saw = {}

    @w.task("echo")
    def echo(args, ctx):
        started.set()
        while not ctx.cancelled:
            time.sleep(0.05)
        saw["reason"] = ctx.reason
        raise rampart.Retry("stopped on request")

    run_worker(w)
    job = alice.submit("echo", {}, queue="ext-cancel")
    assert started.wait(20)
    assert alice.cancel(job.id).cancel_requested is True
    with pytest.raises(rampart.JobCanceled):
        alice.wait(job.id, timeout=20)
    assert saw["reason"] == "cancel requested"


def test_jobs_run_on_threads_kept_for_the_workers_life(alice, worker_client, run_worker):
    w = make_worker(worker_client, "ext", concurrency=2)
    threads = set()

    @w.task("echo")
    def echo(args, ctx):
        threads.add(threading.current_thread().name)
        return args

    run_worker(w)
    jobs = alice.submit_many([{"task": "echo", "args": {"i": i}, "queue": "ext"} for i in range(12)])
    assert [alice.wait(j.id, timeout=20).result for j in jobs] == [{"i": i} for i in range(12)]
    # Twelve jobs, two runner threads (each keeps its own connection to the server).
    assert threads <= {"rampart-runner-0", "rampart-runner-1"}


def test_lease_uses_max_up_to_free_slots(alice, worker_client, monkeypatch):
    jobs = [alice.submit("echo", {"i": i}, queue="ext") for i in range(5)]
    asked = []
    real = worker_client.lease
    monkeypatch.setattr(worker_client, "lease", lambda q, max, **kw: asked.append(max) or real(q, max, **kw))
    w = make_worker(worker_client, "ext", concurrency=3, prefetch=0)  # no jobs leased ahead
    gate = threading.Event()

    @w.task("echo")
    def echo(args, ctx):
        gate.wait(20)
        return args

    thread = threading.Thread(target=w.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    eventually(lambda: w.active == 3)
    assert asked[0] == 3
    gate.set()
    for job in jobs:
        alice.wait(job.id, timeout=20)
    w.stop()
    thread.join(15)
    assert all(1 <= m <= 3 for m in asked)


def test_lease_lost_drops_the_job(alice, worker_client, run_worker, caplog):
    caplog.set_level(logging.INFO, logger="rampart.worker")
    w = make_worker(worker_client, "ext")
    finished = threading.Event()

    @w.task("echo")
    def echo(args, ctx):
        # Complete it behind the worker's back: the worker's own report then gets 409 lease-lost.
        worker_client.complete(ctx.job.id, ctx.lease_id, "first")
        finished.set()
        return "second"

    run_worker(w)
    job = alice.submit("echo", {}, queue="ext")
    assert alice.wait(job.id, timeout=20).result == "first"
    eventually(lambda: any("lease lost" in r.getMessage() for r in caplog.records))
    # The worker moved on: it still runs the next job.
    nxt = alice.submit("echo", {}, queue="ext")
    assert alice.wait(nxt.id, timeout=20).result == "first"


@both_stores
def test_sigkill_mid_job_finishes_on_a_second_worker(alice, server, tmp_path):
    first = worker_process(server, "ext-kill", log_path=tmp_path / "first.log")
    second = None
    try:
        job = alice.submit("sleep", {"seconds": 4}, queue="ext-kill")
        eventually(lambda: alice.get(job.id).progress == 10)  # running on the first worker
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = worker_process(server, "ext-kill", log_path=tmp_path / "second.log")
        done = alice.wait(job.id, timeout=40)
        assert done.result == {"slept": 4, "attempt": 2}
    finally:
        for p in (first, second):
            if p and p.poll() is None:
                p.kill()
                p.wait()


def test_sigterm_drains_then_fails_the_rest_retryably(alice, server, tmp_path):
    proc = worker_process(server, "ext-term", "--grace-period", "3",
                          log_path=tmp_path / "worker.log")
    try:
        short = alice.submit("sleep", {"seconds": 1.5}, queue="ext-term")
        long = alice.submit("sleep", {"seconds": 60}, queue="ext-term")
        eventually(lambda: all(alice.get(j.id).progress == 10 for j in (short, long)))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert alice.get(short.id).state == "succeeded"
        cut = alice.get(long.id)
        assert cut.state in ("failed", "queued") and cut.attempts == 1
        assert "shut down" in cut.error
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        alice.cancel(long.id)


# ---- batched reports, the tasks filter, prefetch, long-poll shutdown -------------------------------

def served(server, route: str) -> int:
    """How many requests to ``route`` the server answered (any status), from its /metrics."""
    import requests

    text = requests.get(server.url + "/metrics", timeout=10).text
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("rampart_http_requests_total{") and f'route="{route}"' in line)


def test_report_many_answers_each_report_on_its_own(alice, worker_client):
    jobs = alice.submit_many([{"task": "echo", "args": {"i": i}, "queue": "ext"} for i in range(3)])
    leased = {j["id"]: j for j in worker_client.lease(["ext"], max=3, tasks=["echo"])}
    assert set(leased) == {j.id for j in jobs}
    a, b, c = (leased[j.id] for j in jobs)
    answers = worker_client.report_many([
        rampart.Client.succeeded(a["id"], a["lease_id"], {"ok": 1}),
        rampart.Client.failed(b["id"], b["lease_id"], "try later"),
        rampart.Client.succeeded(c["id"], "A" * 22, "not my lease id"),
        rampart.Client.failed("no-such-job", "A" * 22, "x", retry=False),
    ])
    assert [x["id"] for x in answers] == [a["id"], b["id"], c["id"], "no-such-job"]
    assert answers[0] == {"id": a["id"], "state": "succeeded"}
    assert answers[1]["state"] == "failed" and "retry_at" in answers[1]
    assert answers[2]["problem"]["type"] == "urn:rampart:problem:lease-lost"
    assert answers[3]["problem"]["status"] == 404
    # Reporting again is refused per item (a lease takes one report), and the others stand.
    (again,) = worker_client.report_many([rampart.Client.succeeded(a["id"], a["lease_id"], "again")])
    assert again["problem"]["status"] == 409
    assert alice.get(a["id"]).result == {"ok": 1}
    assert alice.get(b["id"]).error == "try later"
    worker_client.report_many([rampart.Client.succeeded(c["id"], c["lease_id"])])  # c still held: done
    alice.cancel(b["id"])


def test_report_many_sends_100_a_request_and_raises_for_a_request_refused_whole(worker_client, server):
    before = served(server, "/api/v1/worker/reports")
    answers = worker_client.report_many(
        [rampart.Client.succeeded(f"missing-{i}", "A" * 22) for i in range(150)])
    assert [a["id"] for a in answers] == [f"missing-{i}" for i in range(150)]
    assert all(a["problem"]["status"] == 404 for a in answers)
    assert served(server, "/api/v1/worker/reports") - before == 2
    with pytest.raises(rampart.ValidationError) as caught:
        worker_client.report_many([{**rampart.Client.succeeded("x", "A" * 22), "colour": "red"}])
    assert caught.value.pointers == ["/reports/0/colour"]


def test_reports_are_batched_under_load(alice, worker_client, run_worker, server):
    w = make_worker(worker_client, "ext", concurrency=4)

    @w.task("echo")
    def echo(args, ctx):
        return args["i"]

    singles = served(server, "/api/v1/worker/jobs/{id}/complete")
    batches = served(server, "/api/v1/worker/reports")
    run_worker(w)
    jobs = alice.submit_many([{"task": "echo", "args": {"i": i}, "queue": "ext"} for i in range(400)])
    assert [alice.wait(j.id, timeout=60).result for j in jobs] == list(range(400))
    eventually(lambda: w.held == 0)
    sent = served(server, "/api/v1/worker/reports") - batches
    assert 1 <= sent == w.report_requests < 400 / 2  # at least two reports a request on average
    assert served(server, "/api/v1/worker/jobs/{id}/complete") == singles


@pytest.fixture()
def held_reports(worker_client, monkeypatch):
    """Holds the worker's first report request until ``release_when()`` is true, so that the reports
    made meanwhile go in one batch; records the ids of each request."""
    calls: list[list[str]] = []
    entered = threading.Event()
    state = {"release_when": lambda: True}
    real = worker_client.report_many

    def report_many(reports):
        reports = list(reports)
        calls.append([r["id"] for r in reports])
        if len(calls) == 1:
            entered.set()
            eventually(state["release_when"])
        return real(reports)

    monkeypatch.setattr(worker_client, "report_many", report_many)
    return calls, entered, state


def test_a_lost_lease_in_a_batch_drops_only_that_job(alice, worker_client, run_worker, held_reports,
                                                      caplog):
    caplog.set_level(logging.INFO, logger="rampart.worker")
    calls, entered, state = held_reports
    w = make_worker(worker_client, "ext", concurrency=5, prefetch=0)
    state["release_when"] = lambda: w.held == 0  # every other job finished and handed its report over

    @w.task("echo")
    def echo(args, ctx):
        if args["role"] == "first":
            return "first"
        assert entered.wait(20)
        if args["role"] == "lose":
            worker_client.complete(ctx.job.id, ctx.lease_id, "behind its back")  # the worker's report: 409
        return args["role"]

    roles = ["first", "keep", "lose", "keep", "keep"]
    jobs = alice.submit_many([{"task": "echo", "args": {"role": r}, "queue": "ext"} for r in roles])
    run_worker(w)
    results = [alice.wait(j.id, timeout=30).result for j in jobs]
    assert results == ["first", "keep", "behind its back", "keep", "keep"]
    lost = jobs[2].id
    eventually(lambda: len(calls) >= 2 and w.held == 0)
    assert sorted(calls[1]) == sorted(j.id for j in jobs[1:])  # the four reports went together
    dropped = [r.getMessage() for r in caplog.records if "lease lost" in r.getMessage()]
    assert dropped and all(lost in m for m in dropped)
    assert all(alice.get(j.id).attempts == 1 for j in jobs)


def test_invalid_result_in_a_batch_fails_that_job_for_good(alice, worker_client, run_worker,
                                                         held_reports, caplog):
    caplog.set_level(logging.ERROR, logger="rampart.worker")
    calls, entered, state = held_reports
    w = make_worker(worker_client, "declared", concurrency=4, prefetch=0)
    state["release_when"] = lambda: w.held == 0

    @w.task("report.monthly")
    def monthly(args, ctx):
        if args["month"] != "2026-01":
            assert entered.wait(20)
        if args["month"] < "2000-01":
            return {"month": args["month"], "total": "n/a"}  # not what result_schema says
        return {"month": args["month"], "total": int(args["month"][5:])}

    months = ["2026-01", "2026-02", "1999-12", "2026-03"]
    jobs = alice.submit_many([{"task": "report.monthly", "args": {"month": m}} for m in months])
    run_worker(w)
    done = [alice.wait(j.id, timeout=30, raise_on_failure=False) for j in jobs]
    assert [j.state for j in done] == ["succeeded", "succeeded", "dead", "succeeded"]
    assert [j.result for j in done] == [{"month": "2026-01", "total": 1}, {"month": "2026-02", "total": 2},
                                        None, {"month": "2026-03", "total": 3}]
    bad = done[2]
    assert bad.attempts == 1 and "result_schema" in bad.error and "/result/total" in bad.error
    assert sorted(calls[1]) == sorted(j.id for j in jobs[1:])  # the refused one was in a batch of three
    assert [jobs[2].id] in calls[2:]  # and then failed for good in a report of its own
    assert any("/result/total" in r.getMessage() for r in caplog.records)


def test_leases_name_the_registered_tasks_only(alice, worker_client, run_worker, monkeypatch):
    other = alice.submit("sleep", {"seconds": 0.1}, queue="ext")  # no handler for it on this worker
    asked = []
    real = worker_client.lease
    monkeypatch.setattr(worker_client, "lease",
                        lambda q, max, **kw: asked.append(kw.get("tasks")) or real(q, max, **kw))
    w = make_worker(worker_client, "ext")

    @w.task("echo")
    def echo(args, ctx):
        return "echoed"

    run_worker(w)
    mine = alice.submit("echo", {}, queue="ext")
    assert alice.wait(mine.id, timeout=20).result == "echoed"
    time.sleep(1.5)  # more lease calls went by
    left = alice.get(other.id)
    assert left.state == "queued" and left.attempts == 0  # for another worker, untouched
    assert asked and all(t == ["echo"] for t in asked)
    alice.cancel(other.id)


def test_task_names_the_server_refuses_are_left_out(alice, worker_client, run_worker, caplog):
    caplog.set_level(logging.WARNING, logger="rampart.worker")
    w = make_worker(worker_client, "ext")
    w.task("echo")(lambda args, ctx: "echoed")
    w.task("no.such.task")(lambda args, ctx: None)
    run_worker(w)
    job = alice.submit("echo", {}, queue="ext")
    assert alice.wait(job.id, timeout=20).result == "echoed"
    assert any("no.such.task" in r.getMessage() for r in caplog.records)


def test_over_64_tasks_leases_every_type_and_long_poll_is_the_default(worker_client):
    w = rampart.Worker(worker_client, "ext")
    for n in range(65):
        w.task(f"t{n}")(lambda args, ctx: None)
    assert w._lease_tasks() is None
    small = rampart.Worker(worker_client, "ext")
    small.task("b")(lambda args, ctx: None)
    small.task("a")(lambda args, ctx: None)
    assert small._lease_tasks() == ["a", "b"]
    assert small.wait_seconds == 10 and rampart.Worker(worker_client, "ext", wait_seconds=None).wait_seconds is None


def test_prefetched_jobs_are_kept_alive_and_failed_retryably_on_stop(alice, worker_client, monkeypatch,
                                                                   caplog):
    caplog.set_level(logging.WARNING, logger="rampart.worker")
    asked = []
    real = worker_client.lease
    monkeypatch.setattr(worker_client, "lease", lambda q, max, **kw: asked.append(max) or real(q, max, **kw))
    # One thread, two jobs leased ahead; leases of 6 s, which only heartbeats make last.
    w = make_worker(worker_client, "ext", concurrency=1, prefetch=2, lease_seconds=6, grace_period=1)

    @w.task("echo")
    def echo(args, ctx):
        if args.get("block"):
            ctx.wait_cancelled(30)
            raise rampart.Retry("cut")
        return "quick"

    thread = threading.Thread(target=w.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    try:
        first = alice.submit("echo", {}, queue="ext")  # no job has run yet: nothing is leased ahead
        assert alice.wait(first.id, timeout=20).result == "quick"
        blocked = alice.submit_many([{"task": "echo", "args": {"block": True}, "queue": "ext"}] * 3)
        eventually(lambda: w.held == 3 and w.active == 1)
        assert max(asked) == 3  # the free thread and two more
        time.sleep(8)  # longer than the lease: the queued jobs' heartbeats keep them
        assert all(alice.get(j.id).state == "running" for j in blocked)
    finally:
        w.stop()
        thread.join(20)
    assert not thread.is_alive()
    ended = [alice.get(j.id) for j in blocked]
    assert all(j.state in ("failed", "queued") and j.attempts == 1 for j in ended)
    assert sorted(j.error for j in ended) == [
        "the worker shut down before the job finished",
        "the worker shut down before the job started", "the worker shut down before the job started"]
    assert not [r for r in caplog.records if "lease lost" in r.getMessage()]
    for j in blocked:
        alice.cancel(j.id)


def test_sigterm_during_a_long_poll_stops_within_the_grace_period(alice, server, tmp_path):
    # worker_app leaves wait_seconds at its default (10); its grace period is 2 s.
    log_path = tmp_path / "worker.log"
    proc = worker_process(server, "ext-term", log_path=log_path)
    try:
        eventually(lambda: b"long-poll" in log_path.read_bytes())
        time.sleep(0.5)  # its lease call is held by the server now
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        job = alice.submit("echo", {"n": 1}, queue="ext-term")  # may be leased by that call
        assert proc.wait(15) == 0
        assert time.monotonic() - stopped < 5
        # Leased by the call in flight and run in the grace period, or left for the next worker:
        # never held by a worker that is gone.
        assert alice.get(job.id).state in ("succeeded", "queued")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if alice.get(job.id).state == "queued":
        alice.cancel(job.id)


def test_reports_are_sent_again_after_a_transport_error(alice, worker_client, run_worker, monkeypatch,
                                                       caplog):
    caplog.set_level(logging.WARNING, logger="rampart.worker")
    calls = []
    real = worker_client.report_many

    def flaky(reports):
        reports = list(reports)
        calls.append(len(reports))
        if len(calls) == 1:
            raise rampart.TransportError("POST /api/v1/worker/reports: ConnectionError: could not reach it")
        return real(reports)

    monkeypatch.setattr(worker_client, "report_many", flaky)
    w = make_worker(worker_client, "ext")
    w.task("echo")(lambda args, ctx: args)
    run_worker(w)
    job = alice.submit("echo", {"n": 7}, queue="ext")
    done = alice.wait(job.id, timeout=20)
    assert done.result == {"n": 7} and done.attempts == 1
    assert len(calls) >= 2 and any("trying again" in r.getMessage() for r in caplog.records)


def test_a_server_without_batched_reports_gets_single_reports(alice, worker_client, run_worker,
                                                            monkeypatch, server):
    def missing(reports):
        raise rampart.errors.error_for(404, {"type": "urn:rampart:problem:not-found", "status": 404},
                                       method="POST", path="/api/v1/worker/reports")

    monkeypatch.setattr(worker_client, "report_many", missing)
    w = make_worker(worker_client, "ext")
    w.task("echo")(lambda args, ctx: args)
    singles = served(server, "/api/v1/worker/jobs/{id}/complete")
    run_worker(w)
    jobs = alice.submit_many([{"task": "echo", "args": {"i": i}, "queue": "ext"} for i in range(5)])
    assert [alice.wait(j.id, timeout=20).result for j in jobs] == [{"i": i} for i in range(5)]
    assert served(server, "/api/v1/worker/jobs/{id}/complete") - singles == 5
    assert w._reporter.batched is False
