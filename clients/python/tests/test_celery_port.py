"""examples/celery-port end to end: the Rampart port against the real server (its own rampart.toml, the
worker started with ``python -m rampart worker``, the schedule through the API), then the original
Celery app on a local redis-server with the same inputs: both must give the same results.
docs/migrating-from-celery.md quotes the example's files; the last test checks that it quotes them whole."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import rampart
from conftest import (REPO_ROOT, SDK_ROOT, USER_SCOPES, eventually, free_port, make_token,
                      start_server)

EXAMPLE = REPO_ROOT / "examples" / "celery-port"
GUIDE = REPO_ROOT / "docs" / "migrating-from-celery.md"

PAGES = {
    "/": (200, "<html><head><title>\n  Quarterly   numbers </title></head><body>hi</body></html>"),
    "/plain": (200, "<html><body><p>no title here</p></body></html>"),
    "/gone": (404, "<html><title>Not here</title></html>"),
}

# Arguments of each task, as Celery keyword arguments and so as Rampart's args.
REPORTS = [{"region": "eu", "month": "2026-03"}, {"region": "us", "month": "2026-04"},
           {"region": "apac", "month": "2026-02"}]


def guide_snippet(first_line: str) -> str:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
                if b.startswith(first_line + "\n")]
    return block


class _Site(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        status, body = PAGES.get(self.path, (404, "not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def expected_report(region: str, month: str) -> dict:
    """The report computed here from the CSV, independently of both apps (sorted by amount, not by day)."""
    import csv

    with open(EXAMPLE / "data" / "sales.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["region"] == region and r["date"][:7] == month]
    days: dict[str, int] = {}
    for r in rows:
        days[r["date"]] = days.get(r["date"], 0) + int(r["amount_cents"])
    best = sorted(days.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"region": region, "month": month, "orders": len(rows), "total_cents": sum(days.values()),
            "best_day": best[0][0] if best else None}


def stop(process: subprocess.Popen | None, sig: str = "terminate") -> None:
    if process is not None and process.poll() is None:
        getattr(process, sig)()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def rampart_results(site, tmp_path_factory):
    """Runs the port: server with the example's rampart.toml, the worker, every submission, the
    schedule. Answers what the tests below look at."""
    tmp = tmp_path_factory.mktemp("celery-port-rampart")
    srv = start_server(tmp, config=EXAMPLE / "rampart.toml", env_extra={
        "RAMPART_RATE_LIMITS__USER": "1000000/hour", "RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT": "1000000/hour",
        "RAMPART_ACCESS_LOG": "false",
        # The schedule is switched to every second below, to see a tick without waiting (the default
        # minimum interval is 10 s).
        "RAMPART_SCHEDULES__MIN_INTERVAL_SECONDS": "1"})
    worker = None
    try:
        admin = srv.admin_token()
        app_token = make_token(srv.url, admin, "reporting-app", "user", USER_SCOPES)
        worker_token = make_token(srv.url, admin, "reporting-worker", "worker", ["worker"])
        env = dict(os.environ, RAMPART_URL=srv.url, RAMPART_TOKEN=worker_token,
                   PYTHONPATH=str(SDK_ROOT / "src"))
        log = open(tmp / "worker.log", "wb")
        worker = subprocess.Popen([sys.executable, "-m", "rampart", "worker", "rampart_app.tasks:worker",
                                   "--log-level", "info"], cwd=EXAMPLE, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        client = rampart.Client(srv.url, token=app_token)
        out: dict = {"tasks": {t["name"]: t for t in client.tasks()}}

        # .delay(**kwargs) -> submit(task, kwargs)
        reports = [client.submit("reports.generate", args) for args in REPORTS]
        pages = {path: client.submit("scrape.title", {"url": site + path}) for path in PAGES}
        out["reports"] = [client.wait(j.id, timeout=60) for j in reports]
        out["pages"] = {path: client.wait(j.id, timeout=60, raise_on_failure=False)
                        for path, j in pages.items()}
        out["events"] = client.events(out["reports"][0].id)
        with pytest.raises(rampart.ValidationError) as caught:
            client.submit("reports.generate", {"region": "mars", "month": "2026-13"})
        out["refused"] = caught.value

        # The guide's "callers: after" snippet, as written (its client reads RAMPART_URL, RAMPART_TOKEN).
        snippet: dict = {"url": site + "/"}
        saved = {k: os.environ.get(k) for k in ("RAMPART_URL", "RAMPART_TOKEN")}
        os.environ.update(RAMPART_URL=srv.url, RAMPART_TOKEN=app_token)
        try:
            exec(compile(guide_snippet("# callers: after"), f"{GUIDE}:callers-after", "exec"), snippet)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k)
                else:
                    os.environ[k] = v
        out["snippet"] = {"report": snippet["report"], "title": snippet["title"]}

        # beat_schedule -> a schedule, created through the API by the example's own code.
        sys.path.insert(0, str(EXAMPLE))
        try:
            from rampart_app.schedules import SCHEDULES, ensure_schedules
        finally:
            sys.path.remove(str(EXAMPLE))
        (nightly,) = ensure_schedules(client)
        out["nightly"] = nightly
        out["again"] = ensure_schedules(client)  # a second run updates, it does not duplicate
        out["schedules"] = list(client.list_schedules())
        # To see it fire without waiting for 02:30: the same schedule every second, then back.
        client.update_schedule(nightly.id, every_seconds=1)  # replaces the cron
        ticks = eventually(lambda: [t for t in client.schedule_ticks(nightly.id) if t.job_id], timeout=30)
        out["tick_job"] = client.wait(ticks[-1].job_id, timeout=60)
        out["restored"] = client.update_schedule(nightly.id, cron=SCHEDULES[0]["cron"])
        out["SCHEDULES"] = SCHEDULES
        stop(worker)
        out["worker_exit"] = worker.returncode
        out["worker_log"] = (tmp / "worker.log").read_text()
        yield out
    finally:
        stop(worker)
        srv.stop()


# Submits through .delay() and prints what .get() answered, and the beat entry, as JSON.
CELERY_CALLER = """
import json, sys
from celery_app import app
from celery_app.tasks import generate_report, scrape_title

site, reports, paths = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
sent_reports = [generate_report.delay(**args) for args in reports]
sent_pages = {path: scrape_title.delay(site + path) for path in paths}
out = {"reports": [r.get(timeout=60) for r in sent_reports], "pages": {}}
for path, r in sent_pages.items():
    value = r.get(timeout=60, propagate=False)
    out["pages"][path] = [r.state, str(value) if isinstance(value, Exception) else value]
(name, entry), = app.conf.beat_schedule.items()
c = entry["schedule"]
out["beat"] = {"task": entry["task"], "kwargs": entry["kwargs"], "timezone": str(app.conf.timezone),
               "cron": " ".join(str(x) for x in (c._orig_minute, c._orig_hour, c._orig_day_of_month,
                                                 c._orig_month_of_year, c._orig_day_of_week))}
snippet = {"url": site + "/"}
exec(sys.argv[4], snippet)  # the guide's "callers: before"
out["snippet"] = {"report": snippet["report"], "title": snippet["title"]}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def celery_results(site, tmp_path_factory):
    """The original app: a redis-server of our own (a free port, a temporary directory, stopped by its
    PID), one prefork worker (``python -m celery -A celery_app worker``), the same submissions."""
    tmp = tmp_path_factory.mktemp("celery-port-celery")
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--dir", str(tmp), "--save", "", "--appendonly", "no"],
                             stdout=open(tmp / "redis.log", "wb"), stderr=subprocess.STDOUT)
    broker = f"redis://127.0.0.1:{redis_port}"
    env = dict(os.environ, CELERY_BROKER_URL=broker + "/0", CELERY_RESULT_BACKEND=broker + "/1")
    worker = None
    try:
        import redis as redis_client

        eventually(lambda: _redis_up(redis_client, redis_port), timeout=10)
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "celery_app", "worker",
                                   "-Q", "reports,scraping", "-c", "2", "-P", "prefork",
                                   "--without-gossip", "--without-mingle", "--loglevel", "info"],
                                  cwd=EXAMPLE, env=env, stdout=open(tmp / "worker.log", "wb"),
                                  stderr=subprocess.STDOUT)
        # The caller's side: the app's own module in a process of its own (it reads the broker's URL
        # when imported, and its result objects must not outlive this Redis).
        done = subprocess.run([sys.executable, "-c", CELERY_CALLER, site, json.dumps(REPORTS),
                               json.dumps(list(PAGES)), guide_snippet("# callers: before")],
                              cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr + (tmp / "worker.log").read_text()
        out = json.loads(done.stdout)
        yield out
    finally:
        stop(worker)
        stop(redis)
        if worker is not None and worker.returncode not in (0, None):
            print((tmp / "worker.log").read_text())


def _redis_up(module, port: int) -> bool:
    try:
        return bool(module.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except module.exceptions.ConnectionError:
        return False


def test_port_runs_and_its_results_fit_the_declared_schemas(rampart_results, site):
    tasks = rampart_results["tasks"]
    for name, queue in (("reports.generate", "reports"), ("scrape.title", "scraping")):
        assert tasks[name]["runs_on"] == "external" and tasks[name]["default_queue"] == queue
        assert tasks[name]["result_schema"]["additionalProperties"] is False
    assert tasks["reports.generate"]["max_attempts"] == 4 and tasks["scrape.title"]["timeout_seconds"] == 30

    # Each result was accepted by the server against result_schema (it refuses a complete that does not
    # fit); here it is checked against a report computed independently from the CSV.
    for args, job in zip(REPORTS, rampart_results["reports"]):
        assert job.state == "succeeded" and job.attempts == 1 and job.queue == "reports"
        assert job.result == expected_report(**args)
    assert rampart_results["reports"][0].result["orders"] == 6  # eu, March: a month with orders
    assert any(e.to == "succeeded" for e in rampart_results["events"])

    pages = rampart_results["pages"]
    assert pages["/"].result == {"url": site + "/", "status": 200, "title": "Quarterly numbers"}
    assert pages["/plain"].result == {"url": site + "/plain", "status": 200, "title": None}
    gone = pages["/gone"]
    assert gone.state == "dead" and gone.attempts == 1  # rampart.Fail: not retried
    assert gone.error.startswith("404 Client Error")

    refused = rampart_results["refused"]
    assert refused.status == 422 and {"/args/region", "/args/month"} <= set(refused.pointers)
    assert rampart_results["worker_exit"] == 0
    assert "job" in rampart_results["worker_log"] and "Traceback" not in rampart_results["worker_log"]


def test_port_schedule_is_created_once_and_fires(rampart_results):
    nightly, spec = rampart_results["nightly"], rampart_results["SCHEDULES"][0]
    assert (nightly.task, nightly.args, nightly.cron, nightly.time_zone) == \
        ("reports.generate", {"region": "eu"}, "30 2 * * *", "UTC")
    assert nightly.next_fire_times[0].endswith("T02:30:00Z")
    assert [s.id for s in rampart_results["again"]] == [nightly.id]
    assert [s.name for s in rampart_results["schedules"]] == [spec["name"]]
    job = rampart_results["tick_job"]
    assert job.task == "reports.generate" and job.state == "succeeded"
    assert job.result == expected_report("eu", job.result["month"])
    assert job.result["month"] == job.created[:7]  # no month given: the month it ran in
    restored = rampart_results["restored"]
    assert restored.cron == spec["cron"] and restored.every_seconds is None


def test_celery_app_gives_the_same_results(rampart_results, celery_results, site):
    assert celery_results["reports"] == [job.result for job in rampart_results["reports"]]
    for path in ("/", "/plain"):
        assert celery_results["pages"][path] == ["SUCCESS", rampart_results["pages"][path].result]
    assert celery_results["pages"]["/gone"] == ["FAILURE", rampart_results["pages"]["/gone"].error]

    # The guide's two caller snippets, one on each.
    assert celery_results["snippet"] == rampart_results["snippet"]
    assert rampart_results["snippet"] == {"report": expected_report("eu", "2026-03"), "title": "Quarterly numbers"}

    # The beat entry and the Rampart schedule say the same: task, arguments, time of day, time zone.
    beat, spec = celery_results["beat"], rampart_results["SCHEDULES"][0]
    assert (beat["cron"], beat["kwargs"], beat["timezone"]) == (spec["cron"], spec["args"], spec["time_zone"])
    assert beat["task"] == "celery_app.tasks.generate_report" and spec["task"] == "reports.generate"


def test_guide_quotes_the_example_files_whole():
    blocks = re.findall(r"```[a-z]*\n# (examples/celery-port/\S+)\n(.*?)```", GUIDE.read_text(), re.S)
    quoted = {path: text for path, text in blocks}
    for path in ("celery_app/celery.py", "celery_app/tasks.py", "rampart.toml", "rampart_app/tasks.py",
                 "rampart_app/schedules.py"):
        assert f"examples/celery-port/{path}" in quoted, f"the guide does not quote {path}"
    for path, text in quoted.items():
        source = (REPO_ROOT / path).read_text()
        assert text == source, f"docs/migrating-from-celery.md quotes {path} differently from the file"
    # JSON has no comments to name its file: each JSON block must be one of the schemas, whole.
    schemas = {p.read_text() for p in (EXAMPLE / "schemas").glob("*.json")}
    json_blocks = re.findall(r"```json\n(.*?)```", GUIDE.read_text(), re.S)
    assert json_blocks and all(block in schemas for block in json_blocks)
