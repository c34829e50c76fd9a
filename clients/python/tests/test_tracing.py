"""Tracing through the SDK's worker: the run context the lease names reaches the task (``ctx.traceparent``),
the worker sends it with its progress and heartbeats, and the server's run span, decoded by the
OpenTelemetry project's own OTLP code (tests/otlp/receiver.js), links back to the submission."""

import os
import subprocess
import threading

import pytest
import requests

import rampart
from conftest import (ADMIN_PASSWORD, HIGH_LIMITS, REPO_ROOT, config_toml, eventually, login, make_token,
                      start_server)


@pytest.fixture()
def receiver(tmp_path):
    """The test OTLP receiver (node), on a port of its own; stopped after the test."""
    modules = REPO_ROOT / "tests" / "otlp" / "node_modules"
    if not (modules / "@opentelemetry/otlp-proto-exporter-base/build/src/generated/root.js").exists():
        pytest.fail(f"the OTLP receiver's package is not in {modules}: run make otlp-receiver", pytrace=False)
    log = open(tmp_path / "receiver.log", "w+b")
    process = subprocess.Popen(["node", str(REPO_ROOT / "tests/otlp/receiver.js")], stdout=log,
                               stderr=subprocess.STDOUT, env={"PATH": os.environ["PATH"], "OTLP_NODE_MODULES": str(modules)})
    port = eventually(lambda: (tmp_path / "receiver.log").read_text().split("\n", 1)[0].strip().isdigit()
                      and int((tmp_path / "receiver.log").read_text().split("\n", 1)[0]))
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)
    log.close()


def attribute(span, key):
    for item in span.get("attributes", []):
        if item["key"] == key:
            value = item["value"]
            return value.get("stringValue", value.get("intValue"))
    return None


def test_a_python_workers_run_continues_the_trace_its_lease_names(tmp_path, receiver):
    server = start_server(tmp_path / "server", config_toml(HIGH_LIMITS), env_extra={
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver,
        "RAMPART_TELEMETRY__SCHEDULE_DELAY_MS": "100",
    })
    try:
        admin = login(server.url, "admin", ADMIN_PASSWORD)
        worker_token = make_token(server.url, admin, "tracer1", "worker", ["worker"])
        owner = rampart.Client(server.url, token=admin)
        seen = {}
        worker = rampart.Worker(rampart.Client(server.url, token=worker_token), queues=["ext"],
                                lease_seconds=6, poll_interval=0.05, max_poll_interval=0.3, wait_seconds=1)

        @worker.task("echo")
        def echo(args, ctx):
            seen["traceparent"] = ctx.traceparent
            ctx.progress(50, "half way")
            return args

        thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
        thread.start()
        try:
            job = owner.submit("echo", {"n": 1}, queue="ext")
            assert owner.wait(job.id, timeout=20).state == "succeeded"
        finally:
            worker.stop()
            thread.join(15)

        traceparent = seen["traceparent"]
        assert traceparent and len(traceparent) == 55, traceparent
        run_trace, run_span = traceparent[3:35], traceparent[36:52]

        def spans():
            return requests.get(receiver + "/spans", timeout=10).json()

        def run_and_progress():
            everything = spans()
            run = [s for s in everything if s["spanId"] == run_span]
            progress = [s for s in everything if s["name"] == "POST /api/v1/worker/jobs/{id}/progress"]
            return (run[0], progress[0], everything) if run and progress else None

        run, progress, everything = eventually(run_and_progress)
        assert run["traceId"] == run_trace
        assert run["name"] == "run echo"
        assert attribute(run, "rampart.job.id") == job.id
        submit = [s for s in everything if s["name"] == "submit echo" and attribute(s, "rampart.job.id") == job.id]
        assert submit, "the submission's span was exported"
        assert [(link["traceId"], link["spanId"]) for link in run["links"]] == \
            [(submit[0]["traceId"], submit[0]["spanId"])]
        # The worker's progress report is a span of its run.
        assert progress["traceId"] == run_trace
        assert progress["parentSpanId"] == run_span
        assert requests.get(receiver + "/errors", timeout=10).json() == []
    finally:
        server.stop()
