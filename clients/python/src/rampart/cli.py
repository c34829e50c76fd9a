"""``python -m rampart worker MODULE:ATTR`` and ``python -m rampart submit TASK``."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from typing import Any

from .client import Client
from .errors import JobError, RampartError, WaitTimeout
from .worker import Worker


def _load_worker(target: str) -> Worker:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"expected MODULE:ATTRIBUTE, e.g. myapp.tasks:worker, not {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like celery -A: the application is found from here
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    if callable(obj) and not isinstance(obj, Worker):
        obj = obj()
    if not isinstance(obj, Worker):
        raise SystemExit(f"{target} is not a rampart.Worker")
    return obj


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rampart",
                                     description="Rampart's Python client and worker")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"], help="default: info")
    commands = parser.add_subparsers(dest="command", required=True)

    worker = commands.add_parser("worker", help="run the worker MODULE:ATTRIBUTE defines")
    worker.add_argument("target", help="e.g. myapp.tasks:worker")
    worker.add_argument("--concurrency", type=int, help="jobs at once (default: the worker's)")
    worker.add_argument("--queues", help="comma-separated queues (default: the worker's)")
    worker.add_argument("--grace-period", type=float,
                        help="seconds running jobs get to finish on SIGTERM/SIGINT")
    worker.add_argument("--wait-seconds", type=int,
                        help="long-poll leases: the server holds each lease call up to this (0-30; "
                             "default: the worker's, 10; 0 polls)")
    worker.add_argument("--prefetch", type=int,
                        help="jobs leased beyond the free threads, waiting in the worker's queue "
                             "(default: the worker's, one per thread)")
    worker.add_argument("--log-level", dest="sub_log_level",
                        choices=["debug", "info", "warning", "error"])

    submit = commands.add_parser("submit", help="submit a job (RAMPART_URL, RAMPART_TOKEN)")
    submit.add_argument("task")
    submit.add_argument("--args", default=None, help="the arguments, as JSON")
    submit.add_argument("--queue")
    submit.add_argument("--priority", type=int)
    submit.add_argument("--idempotency-key")
    submit.add_argument("--wait", action="store_true", help="wait for the job to finish")
    submit.add_argument("--timeout", type=float, help="with --wait: give up after this many seconds")
    submit.add_argument("--log-level", dest="sub_log_level",
                        choices=["debug", "info", "warning", "error"])

    options = parser.parse_args(argv)
    level = (options.sub_log_level or options.log_level).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLevelName(level)))

    if options.command == "worker":
        w = _load_worker(options.target)
        if options.concurrency is not None:
            w.concurrency = options.concurrency
        if options.queues:
            w.queues = [q.strip() for q in options.queues.split(",") if q.strip()]
        if options.grace_period is not None:
            w.grace_period = options.grace_period
        if options.wait_seconds is not None:
            if not 0 <= options.wait_seconds <= 30:
                parser.error("--wait-seconds is 0 to 30")
            w.wait_seconds = options.wait_seconds
        if options.prefetch is not None:
            if options.prefetch < 0:
                parser.error("--prefetch is 0 or more")
            w.prefetch = options.prefetch
        w.run()
        return 0

    try:
        args = json.loads(options.args) if options.args is not None else None
    except ValueError as exc:
        parser.error(f"--args is not JSON: {exc}")
    client = Client()
    try:
        job = client.submit(options.task, args, queue=options.queue, priority=options.priority,
                            idempotency_key=options.idempotency_key)
        if options.wait:
            job = client.wait(job.id, options.timeout, raise_on_failure=False)
    except WaitTimeout as exc:
        print(json.dumps(exc.job.raw, indent=2))
        print(str(exc), file=sys.stderr)
        return 3
    except RampartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(job.raw, indent=2))
    if options.wait and job.state != "succeeded":
        return 2
    return 0
