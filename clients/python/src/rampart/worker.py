"""An external worker: leases jobs of some queues and runs them with registered Python functions."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .client import REPORT_BATCH_SIZE, Client, _whole_seconds
from .errors import (APIError, Forbidden, LeaseLost, NotFound, RampartError, RateLimited, ServerError,
                     TransportError, ValidationError, error_for)
from .models import Job

log = logging.getLogger("rampart.worker")

_MAX_ERROR_BYTES = 2000


class Retry(Exception):
    """Raise from a task to fail this attempt; the server retries the job after its back-off while
    attempts remain. Any other exception does the same."""

    def __init__(self, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.reason = reason


class Fail(Exception):
    """Raise from a task to fail the job for good (``retry: false``): it ends ``dead`` now."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Cancelled(Exception):
    """Raised by :meth:`Context.raise_if_cancelled` once the job's cancel was requested."""


def _truncate(text: str, limit: int = _MAX_ERROR_BYTES) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."


class Context:
    """What a task function gets besides its arguments: the job, progress reports, cancellation."""

    def __init__(self, worker: "Worker", job: Job, lease_id: str) -> None:
        self._worker = worker
        self.job = job
        self.lease_id = lease_id
        self._cancel = threading.Event()
        self.lost = False  # the lease is gone: nothing this attempt reports counts any more
        self.reason = ""   # why ``cancelled`` was set: cancel requested, lease lost, timeout, shutdown

    def __repr__(self) -> str:
        return f"Context(job={self.job.id!r}, task={self.job.task!r}, attempt={self.attempt})"

    @property
    def traceparent(self) -> str | None:
        """This attempt's run span as a W3C ``traceparent``, when the server exports traces: make your
        own spans its children (with OpenTelemetry: ``propagate.extract({"traceparent": ...})``). The
        worker sends it with the job's heartbeats and progress, so the server's spans join the run."""
        return self.job.raw.get("traceparent")

    @property
    def attempt(self) -> int:
        """This attempt's number, from 1."""
        return self.job.attempts

    @property
    def cancelled(self) -> bool:
        """True once the task should stop: its owner asked for a cancel (seen by a heartbeat), the
        lease was lost, the job's ``timeout_seconds`` passed, or the worker is shutting down and its
        grace period is over."""
        return self._cancel.is_set()

    def _set_cancelled(self, reason: str) -> None:
        if not self._cancel.is_set():
            self.reason = reason
            self._cancel.set()

    def sleep(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``, waking early on cancellation; answers ``cancelled``."""
        return self._cancel.wait(seconds)

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        return self._cancel.wait(timeout)

    def raise_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(self.reason or "cancel requested")

    def progress(self, percent: int, message: str | None = None) -> None:
        """Reports progress (0 to 100, and a message of at most 200 bytes) to the job's owner.
        A lost lease is noted (``cancelled`` becomes true) rather than raised."""
        if self.lost:
            return
        try:
            self._worker.client.report_progress(self.job.id, self.lease_id, percent, message,
                                                traceparent=self.traceparent)
        except (LeaseLost, NotFound):
            self._worker._lose(self, "lease lost")


TaskFunction = Callable[[Any, Context], Any]

#: How many task names a lease call may name (the server's limit); with more registered, none are sent.
_MAX_LEASE_TASKS = 64
#: How long, after the grace period, a stopping worker keeps trying to send the reports it holds.
_FLUSH_SECONDS = 10.0
#: Prefetched jobs should start within about this many seconds, at the pace of recent jobs.
_PREFETCH_HORIZON = 1.0


@dataclass
class _Running:
    ctx: Context
    thread: threading.Thread | None = None
    # When it was leased: the job's timeout (and the server's cap on its lease) count from the lease call.
    started: float = field(default_factory=time.monotonic)
    next_beat: float = 0.0
    began: bool = False      # a runner took it (until then it waits in the worker's queue)
    reported: bool = False   # its attempt's one report was handed to the reporter
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Reporter:
    """Sends the attempts' reports from one thread: whatever accumulated while the previous request
    was in flight goes in the next ``POST /api/v1/worker/reports`` (so batches form under load and a
    lone report goes at once). Transport errors, 5xx and 429 keep the reports for another try (a report
    applies once per lease: a repeat answers ``lease-lost``, which counts as done)."""

    def __init__(self, worker: "Worker") -> None:
        self.worker = worker
        self.batched = True  # until the server turns out to have no POST /api/v1/worker/reports
        self.requests = 0    # report requests sent (batches and single reports), for the curious
        self._pending: list[tuple[_Running, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self._abandon = False
        self.thread = threading.Thread(target=self._loop, name="rampart-reporter", daemon=True)

    def put(self, run: _Running, item: dict[str, Any]) -> None:
        with self._cond:
            self._pending.append((run, item))
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Waits until every report handed over was sent (or refused); answers whether that happened."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def close(self, timeout: float) -> None:
        if not self.flush(timeout):
            with self._cond:
                lost = len(self._pending)
                self._abandon = True
            log.error("%d report(s) could not be sent before the worker stopped; those jobs run again "
                      "once their leases expire", lost)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        failures = 0
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._closing:
                        self._cond.wait()
                    if self._abandon or (self._closing and not self._pending):
                        self._pending.clear()
                        return
                    batch = self._pending[:REPORT_BATCH_SIZE]
                    del self._pending[:len(batch)]
                    self._busy = True
                retry: list[tuple[_Running, dict[str, Any]]] = []
                delay = 0.0
                try:
                    retry, delay = self._send(batch)
                except Exception:  # noqa: BLE001 - a bug here must not stop every later report
                    log.exception("sending %d report(s) failed", len(batch))
                with self._cond:
                    self._pending[0:0] = retry
                    self._busy = False
                    self._cond.notify_all()
                if retry:
                    failures += 1
                    wait = delay or min(self.worker.max_poll_interval, 0.25 * 2 ** min(failures, 8))
                    with self._cond:
                        self._cond.wait_for(lambda: self._abandon, wait)
                else:
                    failures = 0
        finally:
            self.worker.client.close()  # this thread's connection

    def _send(self, batch: list[tuple[_Running, dict[str, Any]]]
              ) -> tuple[list[tuple[_Running, dict[str, Any]]], float]:
        """Sends ``batch``; answers the reports to try again and how long to wait first (0: back off)."""
        client = self.worker.client
        if self.batched:
            try:
                self.requests += 1
                answers = client.report_many([item for _, item in batch])
            except (TransportError, ServerError, RateLimited) as exc:
                log.warning("%d report(s) not sent (%s); trying again", len(batch), exc)
                return batch, (exc.retry_after or 0.0) if isinstance(exc, APIError) else 0.0
            except APIError as exc:
                if exc.status in (404, 405):
                    # A server older than batched reports: the single routes, from now on.
                    self.batched = False
                    log.info("the server has no POST /api/v1/worker/reports; reporting one at a time")
                else:
                    log.warning("a batch of %d report(s) was refused whole (%s); sending them one at "
                                "a time", len(batch), exc)
            except RampartError as exc:
                log.warning("a batch of %d report(s) got an unexpected answer (%s); sending them one "
                            "at a time", len(batch), exc)
            else:
                for (run, item), answer in zip(batch, answers):
                    self._settle(run, item, answer)
                return [], 0.0
        retry: list[tuple[_Running, dict[str, Any]]] = []
        delay = 0.0
        for run, item in batch:
            try:
                self.requests += 1
                if item["outcome"] == "succeeded":
                    answer = client.complete(item["id"], item["lease_id"], item.get("result"))
                else:
                    answer = client.fail(item["id"], item["lease_id"], item["error"],
                                         retry=item.get("retry", True))
            except (TransportError, ServerError, RateLimited) as exc:
                log.warning("job %s: report not sent (%s); trying again", item["id"], exc)
                retry.append((run, item))
                if isinstance(exc, APIError) and exc.retry_after:
                    delay = max(delay, exc.retry_after)
            except APIError as exc:
                self._refused(run, item, exc)
            else:
                self._settle(run, item, answer)
        return retry, delay

    def _settle(self, run: _Running, item: dict[str, Any], answer: dict[str, Any]) -> None:
        problem = answer.get("problem")
        if isinstance(problem, dict):
            self._refused(run, item, error_for(int(problem.get("status") or 0), problem,
                                               method="POST", path="/api/v1/worker/reports"))
        elif item["outcome"] == "succeeded":
            log.info("job %s completed", item["id"])
        else:
            log.info("job %s failed (%s): now %s", item["id"], item["error"], answer.get("state"))

    def _refused(self, run: _Running, item: dict[str, Any], exc: APIError) -> None:
        job_id = item["id"]
        kind = "complete" if item["outcome"] == "succeeded" else "fail"
        if isinstance(exc, (LeaseLost, NotFound)):
            log.warning("job %s: lease lost before its %s report; dropped", job_id, kind)
        elif kind == "complete" and isinstance(exc, ValidationError) and exc.slug == "invalid-result":
            # The task type's result_schema refused it and the job is still ours. The same code would
            # return the same shape again: fail it for good, naming the fields at fault.
            error = _truncate("the result does not fit the task's result_schema: "
                              + "; ".join(f"{e.pointer}: {e.detail}" for e in exc.errors))
            log.error("job %s: %s", job_id, error)
            self.put(run, Client.failed(job_id, item["lease_id"], error, retry=False))
        else:
            log.error("job %s: %s report refused: %s", job_id, kind, exc)


class Worker:
    """Runs the jobs of ``queues`` with the functions registered by :meth:`task`.

    ``concurrency`` jobs run at once, each in one of ``concurrency`` threads that live as long as the
    worker (``async def`` tasks in an event loop of their own in that thread). Lease calls name the
    registered task types (when there are at most 64), so only jobs this worker can run are leased,
    and ask for the free slots plus ``prefetch`` jobs more, which wait in the worker's queue for a
    free thread. ``wait_seconds`` (a whole number, 0 to 30; default 10) long-polls: the server holds
    each lease call until a job is ready or that many seconds pass (never longer than
    ``grace_period``, so a stop does not wait on it); with ``wait_seconds=0`` or ``None`` the worker
    polls instead, with a back-off from ``poll_interval`` to ``max_poll_interval`` seconds while
    nothing is ready. Heartbeats go out every third of ``lease_seconds`` for every job held, queued
    or running. Reports go out from one thread, batched: whatever finished while the previous report
    request was in flight goes in the next one.
    """

    def __init__(self, client: Client, queues: list[str] | str, concurrency: int = 8, *,
                 lease_seconds: int = 30, poll_interval: float = 0.25, max_poll_interval: float = 5.0,
                 wait_seconds: int | None = 10, grace_period: float = 30.0,
                 prefetch: int | None = None) -> None:
        if isinstance(queues, str):
            queues = [q.strip() for q in queues.split(",") if q.strip()]
        if not queues:
            raise ValueError("a worker needs at least one queue")
        if not 5 <= lease_seconds <= 3600:
            raise ValueError("lease_seconds must be 5 to 3600")
        if prefetch is not None and prefetch < 0:
            raise ValueError("prefetch must be 0 or more")
        self.client = client
        self.queues = list(queues)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        # Checked here, so a bad value stops the worker at start rather than failing every lease.
        self.wait_seconds = None if wait_seconds is None else _whole_seconds(wait_seconds)
        self.grace_period = grace_period
        self.prefetch = prefetch
        self.tasks: dict[str, TaskFunction] = {}
        self._running: dict[str, _Running] = {}  # every job held: waiting for a thread, or running
        self._executing = 0
        self._pace: float | None = None  # recent jobs' running time, seconds (a moving average)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._stop_at: float | None = None
        self._stopped = threading.Event()
        self._ready: queue.SimpleQueue[_Running | None] = queue.SimpleQueue()
        self._refused_tasks: set[str] = set()
        self._reporter = _Reporter(self)

    def __repr__(self) -> str:
        return (f"Worker(client={self.client!r}, queues={self.queues!r}, "
                f"concurrency={self.concurrency}, tasks={sorted(self.tasks)!r})")

    # ---- registration ----------------------------------------------------------------------------

    def task(self, name: str) -> Callable[[TaskFunction], TaskFunction]:
        """Registers ``fn(args, ctx)`` (or ``async def``) as the handler of task ``name``."""

        def register(fn: TaskFunction) -> TaskFunction:
            if name in self.tasks:
                raise ValueError(f"task {name!r} is registered twice")
            self.tasks[name] = fn
            return fn

        return register

    # ---- running ---------------------------------------------------------------------------------

    @property
    def active(self) -> int:
        """Jobs running now (not counting the prefetched ones that wait for a thread)."""
        with self._lock:
            return self._executing

    @property
    def held(self) -> int:
        """Jobs leased and not yet finished: running, or prefetched and waiting for a thread."""
        with self._lock:
            return len(self._running)

    @property
    def report_requests(self) -> int:
        """Report requests this worker has sent (each a batch of reports, or one on an older server)."""
        return self._reporter.requests

    def _prefetch(self) -> int:
        """The most jobs leased beyond the threads: ``prefetch``, by default twice ``concurrency``."""
        return 2 * self.concurrency if self.prefetch is None else self.prefetch

    def _lookahead(self) -> int:
        """The jobs to lease beyond the threads now: as many as the threads would start within
        _PREFETCH_HORIZON at the pace of recent jobs, at most ``prefetch``; none until a job has
        finished. So short jobs are leased in bigger batches, and long ones do not wait in this
        worker's queue (their timeouts counting) while another worker could run them."""
        most = self._prefetch()
        pace = self._pace
        if not most or pace is None:
            return 0
        return min(most, int(self.concurrency * _PREFETCH_HORIZON / max(pace, 1e-6)))

    def _lease_tasks(self) -> list[str] | None:
        """The task names a lease call sends: the registered ones the server did not refuse; None
        (lease every type) when there are none or more than the server takes."""
        names = sorted(set(self.tasks) - self._refused_tasks)
        if not self.tasks or len(names) > _MAX_LEASE_TASKS:
            return None
        return names

    def stop(self) -> None:
        """Asks :meth:`run` to stop leasing and drain (safe from any thread and from signal handlers).
        The grace period counts from the first call."""
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        self._stopping.set()

    def run(self, *, install_signal_handlers: bool = True) -> None:
        """Leases and runs jobs until :meth:`stop` (or SIGTERM/SIGINT, when the handlers are installed,
        which needs the main thread). Then it stops leasing, gives the jobs it holds ``grace_period``
        seconds to finish, fails the rest as retryable so another worker takes them, sends every report
        it holds, and returns."""
        previous: dict[int, Any] = {}
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stop())
        self._stopping.clear()
        self._stop_at = None
        self._stopped.clear()
        self._refused_tasks = set()
        self._pace = None
        self._reporter = _Reporter(self)
        self._reporter.thread.start()
        beats = threading.Thread(target=self._heartbeat_loop, name="rampart-heartbeat", daemon=True)
        beats.start()
        # One thread per slot, kept for the worker's life: each keeps its own connection to the server
        # (the client's sessions are per thread), where a thread per job opened a new one for every job.
        self._ready = queue.SimpleQueue()
        runners = [threading.Thread(target=self._runner, name=f"rampart-runner-{n}", daemon=True)
                   for n in range(self.concurrency)]
        for runner in runners:
            runner.start()
        log.info("worker started: queues %s, concurrency %d, prefetch %d, %s, tasks %s",
                 ",".join(self.queues), self.concurrency, self._prefetch(),
                 f"long-poll {self._wait()} s" if self._wait() else "polling",
                 ", ".join(sorted(self.tasks)) or "(none)")
        try:
            self._lease_loop()
            self._drain()
        finally:
            self._stopped.set()
            for _ in runners:
                self._ready.put(None)
            self._reporter.close(0 if self._stop_at is None else _FLUSH_SECONDS)
            beats.join(timeout=5)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("worker stopped")

    def _wait(self) -> int:
        """The wait of each lease call: ``wait_seconds``, but no longer than the grace period, so that
        a lease call in flight when the worker is stopped ends within it."""
        if not self.wait_seconds:
            return 0
        return max(0, min(self.wait_seconds, int(self.grace_period)))

    def _lease_loop(self) -> None:
        idle = self.poll_interval
        while not self._stopping.is_set():
            with self._changed:
                while not self._stopping.is_set():
                    capacity = self.concurrency + self._lookahead()
                    # With jobs waiting in the queue, lease again only once half the room is free
                    # (fewer, bigger lease calls); with none waiting, at once, or a thread would idle.
                    refill = max(1, capacity // 2)
                    held = len(self._running)
                    free = capacity - held
                    if free > 0 and (free >= refill or held <= self._executing):
                        break
                    self._changed.wait(0.5)
            if self._stopping.is_set():
                return
            wait = self._wait()
            tasks = self._lease_tasks()
            asked = time.monotonic()
            try:
                leased = self.client.lease(self.queues, max=min(free, 100),
                                           lease_seconds=self.lease_seconds,
                                           wait_seconds=wait if wait else None, tasks=tasks)
            except RateLimited as exc:
                delay = exc.retry_after or self.max_poll_interval
                log.warning("leasing is rate limited; waiting %.0f s", delay)
                self._stopping.wait(delay)
                continue
            except Forbidden as exc:
                if tasks and exc.slug == "task-not-allowed" and self._refuse_tasks(tasks, exc):
                    continue
                log.error("lease failed: %s", exc)
                self._stopping.wait(self.max_poll_interval)
                continue
            except (APIError, RampartError) as exc:
                log.error("lease failed: %s", exc)
                self._stopping.wait(self.max_poll_interval)
                continue
            for item in leased:
                self._start(item)
            if leased:
                idle = self.poll_interval
            elif wait:
                # A long-poll: when the server held the call, ask again at once. An empty answer that
                # came early (a server stopping, or one that ignores the wait) gets a short pause, so
                # this never spins.
                if time.monotonic() - asked < wait / 2:
                    self._stopping.wait(self.poll_interval)
            else:
                self._stopping.wait(idle)
                idle = min(self.max_poll_interval, idle * 2)

    def _refuse_tasks(self, asked: list[str], exc: APIError) -> bool:
        """A lease was refused for some of the task names it sent: leave those out from now on.
        Answers whether any name is left to lease."""
        refused = set()
        for pointer in exc.pointers:
            parts = pointer.split("/")
            if len(parts) == 3 and parts[1] == "tasks" and parts[2].isdigit() and int(parts[2]) < len(asked):
                refused.add(asked[int(parts[2])])
        if not refused:
            return False
        self._refused_tasks |= refused
        log.warning("the server leases no jobs of %s to this worker (no such task type there, or the "
                    "token may not lease it); leasing the other tasks", ", ".join(sorted(refused)))
        if self._lease_tasks():
            return True
        self._refused_tasks = set()  # nothing left: try them all again after the pause
        return False

    def _start(self, item: dict[str, Any]) -> None:
        lease_id = str(item.get("lease_id", ""))
        job = Job.from_dict({k: v for k, v in item.items() if k not in ("lease_id", "lease_expires")})
        ctx = Context(self, job, lease_id)
        run = _Running(ctx=ctx, next_beat=time.monotonic() + self.lease_seconds / 3)
        with self._lock:
            self._running[job.id] = run
        self._ready.put(run)

    def _runner(self) -> None:
        while (run := self._ready.get()) is not None:
            with run.lock:
                # Failed while it waited for a thread (its timeout, the end of the grace period): skip.
                run.began = not (run.reported or run.ctx.lost)
            if run.began:
                run.thread = threading.current_thread()
                with self._lock:
                    self._executing += 1
                began = time.monotonic()
                try:
                    self._execute(run)
                finally:
                    took = time.monotonic() - began
                    with self._lock:
                        self._executing -= 1
                        self._pace = took if self._pace is None else 0.8 * self._pace + 0.2 * took
            with self._changed:
                self._running.pop(run.ctx.job.id, None)
                self._changed.notify_all()
        self.client.close()  # this thread's connection

    def _execute(self, run: _Running) -> None:
        ctx = run.ctx
        job = ctx.job
        if ctx.cancelled:  # its cancel was requested while it waited for a thread
            self._report(run, "fail", error=ctx.reason or "canceled", retry=True)
            return
        fn = self.tasks.get(job.task)
        log.info("job %s (%s) attempt %d started", job.id, job.task, job.attempts)
        try:
            if fn is None:
                raise Retry(f"no handler for task {job.task!r} on this worker")
            if inspect.iscoroutinefunction(fn):
                result = asyncio.run(fn(job.args, ctx))
            else:
                result = fn(job.args, ctx)
                if inspect.isawaitable(result):
                    result = asyncio.run(_await(result))
            try:
                json.dumps(result)
            except (TypeError, ValueError) as exc:
                raise Fail(f"the task's result is not JSON: {exc}") from None
            self._report(run, "complete", result=result)
        except Fail as exc:
            self._report(run, "fail", error=exc.reason, retry=False)
        except Cancelled as exc:
            self._report(run, "fail", error=str(exc) or "canceled", retry=True)
        except Retry as exc:
            self._report(run, "fail", error=exc.reason, retry=True)
        except Exception as exc:  # noqa: BLE001 - any failure of a task fails its attempt
            log.exception("job %s (%s) raised", job.id, job.task)
            self._report(run, "fail", error=f"{type(exc).__name__}: {exc}", retry=True)

    def _report(self, run: _Running, kind: str, **body: Any) -> None:
        """Hands the attempt's one final report to the reporter, unless one was handed over already
        (shutdown, timeout) or the lease is lost."""
        ctx = run.ctx
        with run.lock:
            if run.reported or ctx.lost:
                log.info("job %s: result dropped (%s)", ctx.job.id, ctx.reason or "already reported")
                return
            run.reported = True
        if kind == "complete":
            item = Client.succeeded(ctx.job.id, ctx.lease_id, body.get("result"))
        else:
            item = Client.failed(ctx.job.id, ctx.lease_id, _truncate(str(body.get("error") or "failed")),
                                 retry=bool(body.get("retry", True)))
        self._reporter.put(run, item)

    def _lose(self, ctx: Context, reason: str) -> None:
        ctx.lost = True
        ctx._set_cancelled(reason)
        log.warning("job %s: %s; dropping it", ctx.job.id, reason)

    def _heartbeat_loop(self) -> None:
        interval = self.lease_seconds / 3
        while not self._stopped.is_set():
            now = time.monotonic()
            with self._lock:
                runs = list(self._running.values())
            for run in runs:
                ctx = run.ctx
                if ctx.lost or run.reported:
                    continue
                timeout = ctx.job.timeout_seconds
                if timeout and now - run.started > timeout and not ctx.cancelled:
                    # The server ends the lease 5 s after the timeout (counted from the lease call):
                    # stop the job first, and say why.
                    why = f"timed out after {timeout:g} s" + ("" if run.began else ", before it started")
                    ctx._set_cancelled(why)
                    self._report(run, "fail", error=why, retry=True)
                    ctx.lost = True
                    continue
                if now < run.next_beat:
                    continue
                run.next_beat = now + interval
                try:
                    answer = self.client.heartbeat(ctx.job.id, ctx.lease_id, self.lease_seconds,
                                                   traceparent=ctx.traceparent)
                except (LeaseLost, NotFound):
                    if not run.reported:  # else its report landed first: nothing is lost
                        self._lose(ctx, "lease lost")
                    continue
                except RampartError as exc:
                    log.warning("job %s: heartbeat failed: %s", ctx.job.id, exc)
                    run.next_beat = now + min(interval, 1.0)
                    continue
                if answer.get("cancel_requested"):
                    if not ctx.cancelled:
                        log.info("job %s: cancel requested", ctx.job.id)
                    ctx._set_cancelled("cancel requested")
            self._stopped.wait(min(0.5, interval))

    def _drain(self) -> None:
        deadline = (self._stop_at or time.monotonic()) + self.grace_period
        with self._changed:
            if self._running:
                log.info("stopping: %d job(s) held get %.0f s to finish", len(self._running),
                         max(0.0, deadline - time.monotonic()))
            while self._running and time.monotonic() < deadline:
                self._changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            left = list(self._running.values())
        for run in left:
            ctx = run.ctx
            ctx._set_cancelled("worker shutting down")
            with run.lock:
                began = run.began
            self._report(run, "fail", retry=True,
                         error="the worker shut down before the job " + ("finished" if began else "started"))
            ctx.lost = True
        # run() then waits for the reporter to send all of these (up to _FLUSH_SECONDS).


async def _await(awaitable: Any) -> Any:
    return await awaitable
