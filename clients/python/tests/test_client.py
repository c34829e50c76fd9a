import logging
import socket
import threading

import pytest

import rampart
from conftest import HIGH_LIMITS, both_stores, config_toml, make_token, start_server, USER_SCOPES


@both_stores
def test_submit_get_events_and_list(alice):
    job = alice.submit("echo", {"message": "hi"}, priority=3)
    assert job.state in ("queued", "running", "succeeded")
    assert job.idempotency_key and job.idempotency_key.startswith("rampart-py-")
    done = alice.wait(job.id, timeout=20)
    assert done.state == "succeeded" and done.result == {"message": "hi"}
    events = alice.events(job.id)
    assert events[0].from_state is None and events[-1].to == "succeeded"
    ids = [j.id for j in alice.list(task="echo", page_size=1, limit=3)]
    assert job.id in ids and len(ids) <= 3
    pages = list(alice.list_pages(state="succeeded", page_size=1))
    assert len(pages) >= 1 and all(len(p.items) <= 1 for p in pages)


def test_the_postgres_server_keeps_its_jobs_in_postgresql(postgres, postgres_server):
    client = rampart.Client(postgres_server.url, token=postgres_server.tokens["alice"])
    job = client.submit("noop", run_at="2099-01-01T00:00:00Z")
    stored = postgres.psql(f"SELECT task, state FROM jobs WHERE id = '{job.id}'", "rampart_sdk_tests")
    assert stored.strip() == "noop|scheduled"
    assert not (postgres_server.directory / "data" / "rampart.db").exists()
    client.cancel(job.id)


def test_wait_raises_on_dead_and_canceled(alice):
    dead = alice.submit("http.fetch", {"url": "http://127.0.0.1:1/"}, max_attempts=1)
    with pytest.raises(rampart.JobFailed) as caught:
        alice.wait(dead.id, timeout=30)
    assert caught.value.job.state == "dead" and "egress" in (caught.value.job.error or "")
    assert alice.wait(dead.id, raise_on_failure=False).state == "dead"
    # Run again on request: one more attempt, which fails the same way.
    again = alice.retry(dead.id)
    assert again.state == "queued" and again.max_attempts == 2
    with pytest.raises(rampart.JobFailed):
        alice.wait(dead.id, timeout=30)
    assert alice.wait(dead.id, raise_on_failure=False).attempts == 2

    later = alice.submit("noop", run_at="2099-01-01T00:00:00Z")
    assert later.state == "scheduled"
    assert alice.cancel(later.id).state == "canceled"
    with pytest.raises(rampart.JobCanceled):
        alice.wait(later.id, timeout=5)
    with pytest.raises(rampart.Conflict):
        alice.cancel(later.id)


def test_wait_timeout(alice):
    later = alice.submit("noop", run_at="2099-01-01T00:00:00Z")
    with pytest.raises(rampart.WaitTimeout) as caught:
        alice.wait(later.id, timeout=0.3)
    assert isinstance(caught.value, TimeoutError) and caught.value.job.state == "scheduled"
    alice.cancel(later.id)


def test_submit_many_batches_per_thousand(alice, monkeypatch):
    monkeypatch.setattr(rampart.client, "BATCH_SIZE", 3)
    calls = []
    real = alice._submit_batch
    monkeypatch.setattr(alice, "_submit_batch", lambda b: calls.append(len(b)) or real(b))
    jobs = alice.submit_many([{"task": "noop", "run_at": "2099-01-01T00:00:00Z"}] * 7)
    assert calls == [3, 3, 1] and len({j.id for j in jobs}) == 7
    for job in jobs:
        alice.cancel(job.id)


def test_validation_errors_carry_pointers(alice):
    with pytest.raises(rampart.ValidationError) as caught:
        alice.submit("sleep", {"seconds": "x"})
    error = caught.value
    assert error.status == 422 and error.slug == "invalid-args"
    assert "/args/seconds" in error.pointers
    assert error.problem["type"] == "urn:rampart:problem:invalid-args"

    with pytest.raises(rampart.ValidationError) as caught:
        alice.submit_many([{"task": "noop"}, {"task": "sleep", "args": {"seconds": -5}}])
    assert any(p.startswith("/jobs/1/args") for p in caught.value.pointers)

    with pytest.raises(rampart.ValidationError) as caught:  # a 400: a field the server refuses
        alice.submit_many([{"task": "noop", "owner": "me"}])
    assert caught.value.status == 400 and caught.value.pointers


def test_another_users_job_is_not_found(alice, bob):
    job = bob.submit("noop", run_at="2099-01-01T00:00:00Z")
    with pytest.raises(rampart.NotFound) as caught:
        alice.get(job.id)
    assert caught.value.status == 404
    with pytest.raises(rampart.NotFound):
        alice.cancel(job.id)
    with pytest.raises(rampart.NotFound):
        alice.events(job.id)
    bob.cancel(job.id)


def test_idempotency_key_reuse_with_other_request_conflicts(alice):
    first = alice.submit("noop", run_at="2099-01-01T00:00:00Z", idempotency_key="order-42")
    again = alice.submit("noop", run_at="2099-01-01T00:00:00Z", idempotency_key="order-42")
    assert again.id == first.id
    with pytest.raises(rampart.Conflict):
        alice.submit("echo", {"x": 1}, idempotency_key="order-42")
    alice.cancel(first.id)


def test_unauthorized_and_forbidden(server, worker_client):
    bad = rampart.Client(server.url, token="rmp_" + "A" * 43)
    with pytest.raises(rampart.Unauthorized):
        bad.get("x" * 30)
    with pytest.raises(rampart.Forbidden):  # workers cannot submit
        worker_client.submit("noop")


def test_schedules(alice):
    s = alice.create_schedule("every hour", "echo", {"n": 1}, every_seconds=3600, queue="default")
    assert s.every_seconds == 3600 and len(s.next_fire_times) == 5
    assert alice.get_schedule(s.id).name == "every hour"
    assert s.id in [x.id for x in alice.list_schedules(page_size=1)]
    changed = alice.update_schedule(s.id, enabled=False)
    assert changed.enabled is False and changed.next_fire_times == []
    assert alice.schedule_ticks(s.id) == []
    with pytest.raises(rampart.ValidationError) as caught:
        alice.create_schedule("bad", "echo", cron="0 0 * * 8")
    assert caught.value.slug == "invalid-cron" and "/cron" in caught.value.pointers
    alice.delete_schedule(s.id)
    with pytest.raises(rampart.NotFound):
        alice.get_schedule(s.id)


def test_env_configuration(server, monkeypatch):
    monkeypatch.setenv("RAMPART_URL", server.url)
    monkeypatch.setenv("RAMPART_TOKEN", server.tokens["alice"])
    client = rampart.Client()
    assert client.me()["username"] == "alice"


def test_tls_off_needs_an_argument_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="rampart"):
        rampart.Client("https://example.invalid")
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="rampart"):
        client = rampart.Client("https://example.invalid", verify=False)
    assert client.verify is False
    assert any("verification is OFF" in r.getMessage() for r in caplog.records)


def test_token_never_in_repr_str_errors_or_logs(server, caplog):
    token = server.tokens["alice"]
    caplog.set_level(logging.DEBUG)
    client = rampart.Client(server.url, token=token)
    texts = [repr(client), str(client), repr(client._token), str(client._token),
             repr(rampart.Worker(client, ["ext"]))]
    for call in (lambda: client.get("A" * 30), lambda: client.submit("sleep", {"seconds": "x"}),
                 lambda: rampart.Client(server.url, token=token[:-1] + "x").get("A" * 30),
                 lambda: rampart.Client("http://127.0.0.1:1", token=token, max_retries=0).get("x")):
        with pytest.raises(rampart.RampartError) as caught:
            call()
        texts += [str(caught.value), repr(caught.value), repr(caught.value.args)]
        texts += [str(c) for c in (caught.value.__cause__, caught.value.__context__) if c]
    texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert caplog.records
    for text in texts:
        assert token not in text and token[4:20] not in text


def test_rate_limited_retried_after_retry_after(tmp_path):
    tiny = HIGH_LIMITS.replace('"jobs.submit" = "1000000/hour"', '"jobs.submit" = "1/second"')
    srv = start_server(tmp_path, config_toml(tiny))
    try:
        token = make_token(srv.url, srv.admin_token(), "carol", "user", USER_SCOPES)
        impatient = rampart.Client(srv.url, token=token, max_retries=0)
        impatient.submit("noop", run_at="2099-01-01T00:00:00Z")
        with pytest.raises(rampart.RateLimited) as caught:
            impatient.submit("noop", run_at="2099-01-01T00:00:00Z")
        assert caught.value.status == 429 and caught.value.retry_after and caught.value.retry_after >= 1
        assert caught.value.slug == "rate-limited"

        patient = rampart.Client(srv.url, token=token, max_retries=3)
        slept = []
        real_sleep = patient._sleep
        patient._sleep = lambda s: slept.append(s) or real_sleep(s)
        patient.submit("noop", run_at="2099-01-01T00:00:00Z")
        patient.submit("noop", run_at="2099-01-01T00:00:00Z")
        assert slept and all(s >= 1 for s in slept)
        # Bounded: a Retry-After longer than max_retry_wait is not waited for.
        bounded = rampart.Client(srv.url, token=token, max_retries=3, max_retry_wait=0.1)
        with pytest.raises(rampart.RateLimited):
            bounded.submit("noop", run_at="2099-01-01T00:00:00Z")
        assert len(list(patient.list(state="scheduled"))) == 3
    finally:
        srv.stop()


class DroppingProxy:
    """Forwards HTTP/1.1 requests to the server; for the first ``drops`` requests it lets the
    server answer and then closes the client's connection without relaying the answer."""

    def __init__(self, upstream_port: int, drops: int = 1) -> None:
        self.upstream_port = upstream_port
        self.drops = drops
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _read_message(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes]:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError
            rest += chunk
        return head + b"\r\n\r\n" + rest[:length], rest[length:]

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        pending = b""
        try:
            while True:
                request, pending = self._read_message(client, pending)
                upstream.sendall(request)
                response, _ = self._read_message(upstream, b"")
                self.requests += 1
                if self.drops > 0:
                    self.drops -= 1
                    return  # the server answered; the client never hears it
                client.sendall(response)
        except (ConnectionError, OSError):
            pass
        finally:
            client.close()
            upstream.close()


def test_retried_submit_after_dropped_connection_makes_one_job(server, alice):
    port = int(server.url.rsplit(":", 1)[1])
    proxy = DroppingProxy(port, drops=1)
    client = rampart.Client(f"http://127.0.0.1:{proxy.port}", token=server.tokens["alice"])
    job = client.submit("noop", run_at="2099-01-01T00:00:00Z", queue="default")
    assert proxy.requests == 2  # the first answer was lost, the retry got the same job back
    same_key = [j for j in alice.list(state="scheduled") if j.idempotency_key == job.idempotency_key]
    assert [j.id for j in same_key] == [job.id]
    alice.cancel(job.id)


def test_version_matches_the_server():
    import re
    from conftest import REPO_ROOT

    cmake = (REPO_ROOT / "CMakeLists.txt").read_text()
    assert re.search(r"project\(rampart VERSION ([0-9.]+)", cmake).group(1) == rampart.__version__
