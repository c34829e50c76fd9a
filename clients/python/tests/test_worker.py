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
    w = make_worker(worker_client, "ext", concurrency=3)
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
