"""The HTTP client: jobs, schedules and the worker routes, with typed errors and bounded retries."""

from __future__ import annotations

import datetime as _dt
import json as _jsonlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests

from ._version import __version__
from .errors import (APIError, JobCanceled, JobFailed, RampartError, TransportError, WaitTimeout,
                     error_for)
from .models import Job, JobEvent, Page, Schedule, ScheduleTick

log = logging.getLogger("rampart")

#: Jobs in one ``POST /api/v1/jobs/batch`` (the server's default ``jobs.max_batch``).
BATCH_SIZE = 1000

#: Reports in one ``POST /api/v1/worker/reports``, and the most bytes its body may have.
REPORT_BATCH_SIZE = 100
REPORT_BATCH_BYTES = 4 * 1024 * 1024

_UNSET: Any = object()


class _Secret:
    """Holds the token; shows as ``***`` wherever it is printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickled along with a client
        raise TypeError("a Rampart token cannot be pickled")


def _rfc3339(value: _dt.datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("run_at must be timezone-aware (or an RFC 3339 string)")
    return value.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _whole_seconds(value: float) -> int:
    """``wait_seconds`` as the API takes it: an integer 0 to 30 (a JSON ``2.0`` would be refused)."""
    if isinstance(value, bool) or not float(value).is_integer() or not 0 <= value <= 30:
        raise ValueError(f"wait_seconds must be a whole number of seconds from 0 to 30, not {value!r}")
    return int(value)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Client:
    """A connection to one Rampart server, as one credential.

    ``url`` and ``token`` default to the ``RAMPART_URL`` and ``RAMPART_TOKEN`` environment variables.
    TLS certificates are verified; ``verify=False`` turns that off (and logs a warning), ``verify`` may
    also be the path of a CA bundle. 429 and 503 answers are retried after their ``Retry-After``, at
    most ``max_retries`` times and never waiting longer than ``max_retry_wait`` seconds at once; then
    the error is raised. A broken connection is retried the same way for requests that are safe to
    repeat: reads, submissions (each carries an idempotency key, generated when not given) and the
    worker's heartbeats and progress reports.
    """

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 verify: bool | str = True, timeout: float = 30.0, max_retries: int = 4,
                 max_retry_wait: float = 60.0, user_agent: str | None = None) -> None:
        url = url or os.environ.get("RAMPART_URL")
        if not url:
            raise ValueError("no server URL: pass url= or set RAMPART_URL")
        token = token if token is not None else os.environ.get("RAMPART_TOKEN")
        self.url = url.rstrip("/")
        self._token = _Secret(token) if token else None
        self.verify = verify
        if verify is False:
            log.warning("TLS certificate verification is OFF for %s: anyone on the path can read "
                        "and change this client's traffic, its token included", self.url)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.user_agent = user_agent or f"rampart-client/{__version__}"
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"Client(url={self.url!r}, token={'***' if self._token else None})"

    # ---- plumbing --------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = True
            self._local.session = session
        return session

    def close(self) -> None:
        """Closes this thread's connection pool (others close when their threads end)."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def request(self, method: str, path: str, *, json: Any = _UNSET,
                params: Mapping[str, Any] | None = None, safe_to_repeat: bool | None = None,
                max_retries: int | None = None, timeout: float | None = None,
                body: bytes | None = None, traceparent: str | None = None) -> requests.Response:
        """Sends one request (``path`` under the server's URL) and answers the 2xx response, or raises.

        ``safe_to_repeat`` says whether a broken connection may be retried; by default only GET is.
        ``timeout`` replaces the client's own for this request. ``body`` is a JSON body already
        encoded (in place of ``json``). ``traceparent`` (W3C Trace Context) puts the request in that trace.
        """
        if safe_to_repeat is None:
            safe_to_repeat = method.upper() in ("GET", "HEAD")
        retries = self.max_retries if max_retries is None else max_retries
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self._token is not None:
            headers["Authorization"] = "Bearer " + self._token.reveal()
        if body is not None:
            headers["Content-Type"] = "application/json"
        if traceparent:
            headers["traceparent"] = traceparent
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self._session().request(
                    method, self.url + path, headers=headers, params=params or None,
                    json=None if json is _UNSET else json, data=body, timeout=timeout or self.timeout,
                    verify=self.verify)
            except requests.RequestException as exc:
                # requests' exception texts name the URL, never the headers, but keep only the class.
                if safe_to_repeat and attempt < retries:
                    delay = min(self.max_retry_wait, 0.25 * 2 ** attempt)
                    attempt += 1
                    log.info("%s %s: %s; retrying in %.2f s (%d/%d)", method, path,
                             type(exc).__name__, delay, attempt, retries)
                    self._sleep(delay)
                    continue
                raise TransportError(f"{method} {path}: {type(exc).__name__}: could not reach "
                                     f"{self.url}") from None
            if response.status_code < 400:
                return response
            retry_after = _retry_after(response)
            if response.status_code in (429, 503) and attempt < retries:
                delay = retry_after if retry_after is not None else min(self.max_retry_wait, 2 ** attempt)
                if delay <= self.max_retry_wait:
                    attempt += 1
                    log.info("%s %s: %d, retrying after %.2f s (%d/%d)", method, path,
                             response.status_code, delay, attempt, retries)
                    response.close()
                    self._sleep(delay)
                    continue
            try:
                problem = response.json()
                if not isinstance(problem, dict):
                    problem = {}
            except ValueError:
                problem = {}
            raise error_for(response.status_code, problem, retry_after=retry_after,
                            method=method, path=path)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # ---- jobs ------------------------------------------------------------------------------------

    @staticmethod
    def submission(task: str, args: Any = None, *, queue: str | None = None,
                   priority: int | None = None, run_at: _dt.datetime | str | None = None,
                   max_attempts: int | None = None, timeout_seconds: float | None = None,
                   idempotency_key: str | None = None) -> dict[str, Any]:
        """The body of one submission (what :meth:`submit_many` takes), with an idempotency key."""
        body: dict[str, Any] = {"task": task}
        if args is not None:
            body["args"] = args
        if queue is not None:
            body["queue"] = queue
        if priority is not None:
            body["priority"] = priority
        if run_at is not None:
            body["run_at"] = _rfc3339(run_at)
        if max_attempts is not None:
            body["max_attempts"] = max_attempts
        if timeout_seconds is not None:
            body["timeout_seconds"] = timeout_seconds
        body["idempotency_key"] = idempotency_key or f"rampart-py-{uuid.uuid4()}"
        return body

    def submit(self, task: str, args: Any = None, *, queue: str | None = None,
               priority: int | None = None, run_at: _dt.datetime | str | None = None,
               max_attempts: int | None = None, timeout_seconds: float | None = None,
               idempotency_key: str | None = None) -> Job:
        """Submits one job. Without ``idempotency_key`` one is generated, so that a retry after a
        broken connection or a 429/503 answers the job the first attempt made instead of a second."""
        body = self.submission(task, args, queue=queue, priority=priority, run_at=run_at,
                               max_attempts=max_attempts, timeout_seconds=timeout_seconds,
                               idempotency_key=idempotency_key)
        return Job.from_dict(self._json("POST", "/api/v1/jobs", json=body, safe_to_repeat=True))

    def submit_many(self, submissions: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Submits many jobs, one batch request per 1,000. Each item is a dict like
        ``{"task": "echo", "args": {...}, "queue": ...}`` (see :meth:`submission`). Each batch is stored
        whole or not at all; a failing batch raises, and the batches before it stay submitted."""
        jobs: list[Job] = []
        batch: list[dict[str, Any]] = []
        for item in submissions:
            body = dict(item)
            if "task" not in body:
                raise ValueError("every submission needs a task")
            if isinstance(body.get("run_at"), _dt.datetime):
                body["run_at"] = _rfc3339(body["run_at"])
            # Without keys, a batch retried after a broken connection could be stored twice.
            body.setdefault("idempotency_key", f"rampart-py-{uuid.uuid4()}")
            batch.append(body)
            if len(batch) == BATCH_SIZE:
                jobs.extend(self._submit_batch(batch))
                batch = []
        if batch:
            jobs.extend(self._submit_batch(batch))
        return jobs

    def _submit_batch(self, batch: list[dict[str, Any]]) -> list[Job]:
        answer = self._json("POST", "/api/v1/jobs/batch", json={"jobs": batch}, safe_to_repeat=True)
        return [Job.from_dict(item) for item in answer.get("items", [])]

    def get(self, job_id: str) -> Job:
        """One job (``NotFound`` for an id that does not exist or is another user's)."""
        return Job.from_dict(self._json("GET", f"/api/v1/jobs/{quote(job_id, safe='')}"))

    def wait(self, job_id: str, timeout: float | None = None, *, raise_on_failure: bool = True,
             poll_interval: float = 0.2, max_poll_interval: float = 2.0) -> Job:
        """Waits until the job finishes and answers it. Raises :class:`JobFailed` when it ended
        ``dead`` and :class:`JobCanceled` when ``canceled`` (unless ``raise_on_failure=False``), and
        :class:`WaitTimeout` (a ``TimeoutError``) when ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval
        while True:
            job = self.get(job_id)
            if job.done:
                if raise_on_failure and job.state == "dead":
                    raise JobFailed(job)
                if raise_on_failure and job.state == "canceled":
                    raise JobCanceled(job)
                return job
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(job, timeout or 0.0)
                self._sleep(min(interval, left))
            else:
                self._sleep(interval)
            interval = min(max_poll_interval, interval * 1.5)

    def list_pages(self, *, state: str | None = None, queue: str | None = None,
                   task: str | None = None, owner: str | None = None, page_size: int | None = None,
                   cursor: str | None = None) -> Iterator[Page]:
        """The caller's jobs (admins and auditors: everyone's), newest first, one :class:`Page` at a time."""
        while True:
            answer = self._json("GET", "/api/v1/jobs", params={
                "state": state, "queue": queue, "task": task, "owner": owner,
                "limit": page_size, "cursor": cursor})
            page = Page(items=[Job.from_dict(j) for j in answer.get("items", [])],
                        next_cursor=answer.get("next_cursor"), raw=answer)
            yield page
            if not page.next_cursor or not page.items:
                return
            cursor = page.next_cursor

    def list(self, *, state: str | None = None, queue: str | None = None, task: str | None = None,
             owner: str | None = None, page_size: int | None = None,
             limit: int | None = None) -> Iterator[Job]:
        """The caller's jobs, newest first, fetching pages as the iteration goes; ``limit`` stops it
        after that many jobs."""
        count = 0
        for page in self.list_pages(state=state, queue=queue, task=task, owner=owner,
                                    page_size=page_size):
            for job in page.items:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield job

    def cancel(self, job_id: str) -> Job:
        """Cancels a job: at once when it is waiting, cooperatively when running (the answer then
        has ``cancel_requested``). ``Conflict`` when it already finished."""
        return Job.from_dict(self._json("POST", f"/api/v1/jobs/{quote(job_id, safe='')}/cancel"))

    def retry(self, job_id: str) -> Job:
        """Runs a ``failed`` or ``dead`` job again now (queued at once; a dead job with no attempt
        left is given one more). ``Conflict`` in any other state; ``NotFound`` for another user's job."""
        return Job.from_dict(self._json("POST", f"/api/v1/jobs/{quote(job_id, safe='')}/retry"))

    def events(self, job_id: str) -> list[JobEvent]:
        """The job's history, oldest first."""
        answer = self._json("GET", f"/api/v1/jobs/{quote(job_id, safe='')}/events")
        return [JobEvent.from_dict(e) for e in answer.get("items", [])]

    def tasks(self) -> list[dict[str, Any]]:
        """The task types jobs may run, each with its argument schema."""
        return list(self._json("GET", "/api/v1/tasks").get("items", []))

    def me(self) -> dict[str, Any]:
        """Who the credential is (``GET /api/v1/me``)."""
        return dict(self._json("GET", "/api/v1/me"))

    # ---- schedules -------------------------------------------------------------------------------

    def create_schedule(self, name: str, task: str, args: Any = None, *, cron: str | None = None,
                        every_seconds: int | None = None, **fields: Any) -> Schedule:
        """Creates a schedule (one of ``cron`` or ``every_seconds``). Other fields of the API
        (``queue``, ``priority``, ``time_zone``, ``enabled``, ``misfire_policy``, ``catch_up_max``,
        ``skip_if_running``) are passed as keywords."""
        body: dict[str, Any] = {"name": name, "task": task, **fields}
        if args is not None:
            body["args"] = args
        if cron is not None:
            body["cron"] = cron
        if every_seconds is not None:
            body["every_seconds"] = every_seconds
        return Schedule.from_dict(self._json("POST", "/api/v1/schedules", json=body))

    def get_schedule(self, schedule_id: str) -> Schedule:
        return Schedule.from_dict(self._json("GET", f"/api/v1/schedules/{quote(schedule_id, safe='')}"))

    def list_schedules(self, *, owner: str | None = None,
                       page_size: int | None = None) -> Iterator[Schedule]:
        """The caller's schedules (admins: everyone's), by id, fetching pages as the iteration goes."""
        cursor: str | None = None
        while True:
            answer = self._json("GET", "/api/v1/schedules",
                                params={"owner": owner, "limit": page_size, "cursor": cursor})
            items = answer.get("items", [])
            yield from (Schedule.from_dict(s) for s in items)
            cursor = answer.get("next_cursor")
            if not cursor or not items:
                return

    def update_schedule(self, schedule_id: str, **fields: Any) -> Schedule:
        """Changes the given fields (``PATCH``); ``Conflict`` (``schedule-changed``) when racing another."""
        return Schedule.from_dict(self._json(
            "PATCH", f"/api/v1/schedules/{quote(schedule_id, safe='')}", json=fields))

    def delete_schedule(self, schedule_id: str) -> None:
        self.request("DELETE", f"/api/v1/schedules/{quote(schedule_id, safe='')}")

    def schedule_ticks(self, schedule_id: str, limit: int | None = None) -> list[ScheduleTick]:
        """The schedule's newest ticks, newest first."""
        answer = self._json("GET", f"/api/v1/schedules/{quote(schedule_id, safe='')}/ticks",
                            params={"limit": limit})
        return [ScheduleTick.from_dict(t) for t in answer.get("items", [])]

    # ---- the worker routes (role worker, scope worker) -------------------------------------------

    def lease(self, queues: list[str], max: int = 1, lease_seconds: int | None = None,
              wait_seconds: int | None = None, tasks: list[str] | None = None) -> list[dict[str, Any]]:
        """Leases up to ``max`` queued jobs (each a job dict plus ``lease_id`` and ``lease_expires``).

        ``tasks`` (at most 64 names) leases only jobs of those task types; a name the server does not
        know, or one the token may not lease, refuses the call with ``Forbidden``
        (``task-not-allowed``, the names by their pointers ``/tasks/N``).
        ``wait_seconds`` (a whole number, 0 to 30) asks the server to hold the call until a job is
        ready (long-poll); the read timeout is then at least ``wait_seconds + 10``. A server without
        long-poll leasing refuses the field with 400, so it is sent only when given."""
        body: dict[str, Any] = {"queues": list(queues), "max": max}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        if tasks is not None:
            body["tasks"] = list(tasks)
        timeout = None
        if wait_seconds is not None:
            body["wait_seconds"] = _whole_seconds(wait_seconds)
            # The read must outlast the server's wait: a call given up while waiting may still lease a
            # job that this worker never hears of (it runs again only once its lease expires).
            timeout = self.timeout if self.timeout > body["wait_seconds"] + 10 else body["wait_seconds"] + 10.0
        answer = self._json("POST", "/api/v1/worker/lease", json=body, timeout=timeout)
        return list(answer.get("jobs", []))

    def heartbeat(self, job_id: str, lease_id: str, lease_seconds: int | None = None, *,
                  traceparent: str | None = None) -> dict[str, Any]:
        """Extends a lease; the answer has ``lease_expires`` and ``cancel_requested``. ``traceparent``
        is the leased job's (its run's trace context), when the server traces."""
        body: dict[str, Any] = {"lease_id": lease_id}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        return dict(self._json("POST", f"/api/v1/worker/jobs/{quote(job_id, safe='')}/heartbeat",
                               json=body, safe_to_repeat=True, traceparent=traceparent))

    def report_progress(self, job_id: str, lease_id: str, percent: int,
                        message: str | None = None, *, traceparent: str | None = None) -> None:
        body: dict[str, Any] = {"lease_id": lease_id, "percent": int(percent)}
        if message is not None:
            body["message"] = message
        self.request("POST", f"/api/v1/worker/jobs/{quote(job_id, safe='')}/progress", json=body,
                     safe_to_repeat=True, traceparent=traceparent)

    def complete(self, job_id: str, lease_id: str, result: Any = None) -> dict[str, Any]:
        return dict(self._json("POST", f"/api/v1/worker/jobs/{quote(job_id, safe='')}/complete",
                               json={"lease_id": lease_id, "result": result}))

    def fail(self, job_id: str, lease_id: str, error: str, retry: bool = True) -> dict[str, Any]:
        return dict(self._json("POST", f"/api/v1/worker/jobs/{quote(job_id, safe='')}/fail",
                               json={"lease_id": lease_id, "error": error, "retry": retry}))

    @staticmethod
    def succeeded(job_id: str, lease_id: str, result: Any = None) -> dict[str, Any]:
        """One item of :meth:`report_many`: the attempt succeeded with ``result``."""
        return {"id": job_id, "lease_id": lease_id, "outcome": "succeeded", "result": result}

    @staticmethod
    def failed(job_id: str, lease_id: str, error: str, retry: bool = True) -> dict[str, Any]:
        """One item of :meth:`report_many`: the attempt failed (``retry=False``: the job is dead now)."""
        return {"id": job_id, "lease_id": lease_id, "outcome": "failed", "error": error, "retry": retry}

    def report_many(self, reports: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Ends many attempts, one ``POST /api/v1/worker/reports`` per 100 (fewer when their bodies
        would pass 4 MiB together). Each item is made by :meth:`succeeded` or :meth:`failed`.

        Answers one dict per item, in order: ``{"id", "state", "retry_at"?}`` where the report took
        the job, or ``{"id", "problem": {...}}`` where it was refused on its own (``lease-lost``,
        ``not-found``, ``invalid-result``...; :func:`rampart.errors.error_for` makes the exception the
        single route would have raised). A request refused whole raises, as every call does; the
        chunks before it stay reported. A report applies once per lease, so a chunk is resent after a
        broken connection: an item the first try applied then answers ``lease-lost``."""
        answers: list[dict[str, Any]] = []
        chunk: list[bytes] = []
        size = 0
        overhead = len(b'{"reports":[]}')
        for item in reports:
            encoded = _jsonlib.dumps(item, separators=(",", ":"), ensure_ascii=False,
                                  allow_nan=False).encode("utf-8")
            if chunk and (len(chunk) == REPORT_BATCH_SIZE
                          or overhead + size + len(chunk) + len(encoded) > REPORT_BATCH_BYTES):
                answers.extend(self._report_chunk(chunk))
                chunk, size = [], 0
            chunk.append(encoded)
            size += len(encoded)
        if chunk:
            answers.extend(self._report_chunk(chunk))
        return answers

    def _report_chunk(self, chunk: list[bytes]) -> list[dict[str, Any]]:
        body = b'{"reports":[' + b",".join(chunk) + b"]}"
        answer = self._json("POST", "/api/v1/worker/reports", body=body, safe_to_repeat=True)
        items = list(answer.get("reports", []))
        if len(items) != len(chunk):
            raise RampartError(f"POST /api/v1/worker/reports: {len(items)} answers to {len(chunk)} reports")
        return items


__all__ = ["Client", "APIError", "BATCH_SIZE", "REPORT_BATCH_SIZE", "REPORT_BATCH_BYTES"]
