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

from .client import Client, _whole_seconds
from .errors import APIError, LeaseLost, NotFound, RampartError, RateLimited, ValidationError
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
            self._worker.client.report_progress(self.job.id, self.lease_id, percent, message)
        except (LeaseLost, NotFound):
            self._worker._lose(self, "lease lost")


TaskFunction = Callable[[Any, Context], Any]


@dataclass
class _Running:
    ctx: Context
    thread: threading.Thread | None = None
    started: float = field(default_factory=time.monotonic)
    next_beat: float = 0.0
    reported: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class Worker:
    """Runs the jobs of ``queues`` with the functions registered by :meth:`task`.

    ``concurrency`` jobs run at once, each in one of ``concurrency`` threads that live as long as the
    worker (``async def`` tasks in an event loop of their own in that thread). Leases ask for up to the free slots; while nothing is ready the
    worker polls with a back-off from ``poll_interval`` to ``max_poll_interval`` seconds. Heartbeats
    go out every third of ``lease_seconds``. ``wait_seconds`` (a whole number, 0 to 30) is for servers
    with long-poll leasing: when set, it is sent with each lease call, which the server then holds
    until a job is ready or that many seconds pass.
    """

    def __init__(self, client: Client, queues: list[str] | str, concurrency: int = 8, *,
                 lease_seconds: int = 30, poll_interval: float = 0.25, max_poll_interval: float = 5.0,
                 wait_seconds: int | None = None, grace_period: float = 30.0) -> None:
        if isinstance(queues, str):
            queues = [q.strip() for q in queues.split(",") if q.strip()]
        if not queues:
            raise ValueError("a worker needs at least one queue")
        if not 5 <= lease_seconds <= 3600:
            raise ValueError("lease_seconds must be 5 to 3600")
        self.client = client
        self.queues = list(queues)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        # Checked here, so a bad value stops the worker at start rather than failing every lease.
        self.wait_seconds = None if wait_seconds is None else _whole_seconds(wait_seconds)
        self.grace_period = grace_period
        self.tasks: dict[str, TaskFunction] = {}
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._ready: queue.SimpleQueue[_Running | None] = queue.SimpleQueue()

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
        """Jobs running now."""
        with self._lock:
            return len(self._running)

    def stop(self) -> None:
        """Asks :meth:`run` to stop leasing and drain (safe from any thread and from signal handlers)."""
        self._stopping.set()

    def run(self, *, install_signal_handlers: bool = True) -> None:
        """Leases and runs jobs until :meth:`stop` (or SIGTERM/SIGINT, when the handlers are installed,
        which needs the main thread). Then it stops leasing, gives running jobs ``grace_period``
        seconds to finish, fails the rest as retryable so another worker takes them, and returns."""
        previous: dict[int, Any] = {}
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stop())
        self._stopping.clear()
        self._stopped.clear()
        beats = threading.Thread(target=self._heartbeat_loop, name="rampart-heartbeat", daemon=True)
        beats.start()
        # One thread per slot, kept for the worker's life: each keeps its own connection to the server
        # (the client's sessions are per thread), where a thread per job opened a new one for every job.
        self._ready = queue.SimpleQueue()
        runners = [threading.Thread(target=self._runner, name=f"rampart-runner-{n}", daemon=True)
                   for n in range(self.concurrency)]
        for runner in runners:
            runner.start()
        log.info("worker started: queues %s, concurrency %d, tasks %s", ",".join(self.queues),
                 self.concurrency, ", ".join(sorted(self.tasks)) or "(none)")
        try:
            self._lease_loop()
            self._drain()
        finally:
            self._stopped.set()
            for _ in runners:
                self._ready.put(None)
            beats.join(timeout=5)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("worker stopped")

    def _lease_loop(self) -> None:
        idle = self.poll_interval
        while not self._stopping.is_set():
            with self._changed:
                while len(self._running) >= self.concurrency and not self._stopping.is_set():
                    self._changed.wait(0.5)
                free = self.concurrency - len(self._running)
            if self._stopping.is_set():
                return
            asked = time.monotonic()
            try:
                leased = self.client.lease(self.queues, max=min(free, 100),
                                           lease_seconds=self.lease_seconds,
                                           wait_seconds=self.wait_seconds)
            except RateLimited as exc:
                delay = exc.retry_after or self.max_poll_interval
                log.warning("leasing is rate limited; waiting %.0f s", delay)
                self._stopping.wait(delay)
                continue
            except (APIError, RampartError) as exc:
                log.error("lease failed: %s", exc)
                self._stopping.wait(self.max_poll_interval)
                continue
            for item in leased:
                self._start(item)
            if leased:
                idle = self.poll_interval
            elif self.wait_seconds:
                # A long-poll: when the server held the call, ask again at once. An empty answer that
                # came early (a server stopping, or one that ignores the wait) gets a short pause, so
                # this never spins.
                if time.monotonic() - asked < self.wait_seconds / 2:
                    self._stopping.wait(self.poll_interval)
            else:
                self._stopping.wait(idle)
                idle = min(self.max_poll_interval, idle * 2)

    def _start(self, item: dict[str, Any]) -> None:
        lease_id = str(item.get("lease_id", ""))
        job = Job.from_dict({k: v for k, v in item.items() if k not in ("lease_id", "lease_expires")})
        ctx = Context(self, job, lease_id)
        run = _Running(ctx=ctx, next_beat=time.monotonic() + self.lease_seconds / 3)
        with self._lock:
            self._running[job.id] = run
        self._ready.put(run)  # a runner is free: jobs are leased only for free slots

    def _runner(self) -> None:
        while (run := self._ready.get()) is not None:
            run.thread = threading.current_thread()
            self._execute(run)
        self.client.close()  # this thread's connection

    def _execute(self, run: _Running) -> None:
        ctx = run.ctx
        job = ctx.job
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
        finally:
            with self._changed:
                self._running.pop(job.id, None)
                self._changed.notify_all()

    def _report(self, run: _Running, kind: str, **body: Any) -> None:
        """Sends the attempt's one final report, unless one was sent (shutdown, timeout) or the
        lease is lost. ``409 lease-lost`` and ``404`` drop the job."""
        ctx = run.ctx
        with run.lock:
            if run.reported or ctx.lost:
                log.info("job %s: result dropped (%s)", ctx.job.id, ctx.reason or "already reported")
                return
            run.reported = True
        try:
            if kind == "complete":
                try:
                    self.client.complete(ctx.job.id, ctx.lease_id, body.get("result"))
                    log.info("job %s completed", ctx.job.id)
                    return
                except ValidationError as exc:
                    if exc.slug != "invalid-result":
                        raise
                    # The task type's result_schema refused it and the job is still ours. The same code
                    # would return the same shape again: fail it for good, naming the fields at fault.
                    body = {"error": "the result does not fit the task's result_schema: "
                                     + "; ".join(f"{e.pointer}: {e.detail}" for e in exc.errors),
                            "retry": False}
                    log.error("job %s: %s", ctx.job.id, body["error"])
            error = _truncate(str(body.get("error") or "failed"))
            answer = self.client.fail(ctx.job.id, ctx.lease_id, error, retry=body.get("retry", True))
            log.info("job %s failed (%s): now %s", ctx.job.id, error, answer.get("state"))
        except (LeaseLost, NotFound):
            log.warning("job %s: lease lost before its %s report; dropped", ctx.job.id, kind)
        except RampartError as exc:
            log.error("job %s: %s report failed: %s", ctx.job.id, kind, exc)

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
                    # The server does not bound external workers' jobs: stop it ourselves.
                    ctx._set_cancelled(f"timed out after {timeout:g} s")
                    self._report(run, "fail", error=f"timed out after {timeout:g} s", retry=True)
                    ctx.lost = True
                    continue
                if now < run.next_beat:
                    continue
                run.next_beat = now + interval
                try:
                    answer = self.client.heartbeat(ctx.job.id, ctx.lease_id, self.lease_seconds)
                except (LeaseLost, NotFound):
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
        deadline = time.monotonic() + self.grace_period
        with self._changed:
            if self._running:
                log.info("stopping: %d running job(s) get %.0f s to finish", len(self._running),
                         self.grace_period)
            while self._running and time.monotonic() < deadline:
                self._changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            left = list(self._running.values())
        for run in left:
            ctx = run.ctx
            ctx._set_cancelled("worker shutting down")
            self._report(run, "fail", error="the worker shut down before the job finished",
                         retry=True)
            ctx.lost = True


async def _await(awaitable: Any) -> Any:
    return await awaitable
