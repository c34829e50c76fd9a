"""Fixtures: the real server binary, started once per session, and its users and tokens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
SDK_ROOT = HERE.parent
REPO_ROOT = SDK_ROOT.parent.parent
ADMIN_PASSWORD = "violet Marmot 83 gallops uphill"
USER_PASSWORD = "correct horse battery staple 42"
SECRET_KEY = "python-sdk-tests-secret-key-0123456789-abcdefghijkl"

#: Queues whose jobs only external workers run (in-process concurrency 0), one per test that needs one.
EXTERNAL_QUEUES = ["ext", "ext-progress", "ext-cancel", "ext-kill", "ext-term", "reports", "declared"]

#: Task types of the suite's own ([tasks.NAME]): the server has no code for them, only workers run them.
DECLARED_TASKS = """
[tasks."report.monthly"]
description = "A month's total, made by a Python worker"
args_schema = { type = "object", required = ["month"], properties = { month = { type = "string", pattern = "^[0-9]{4}-[0-9]{2}$" } } }
result_schema = { type = "object", required = ["month", "total"], properties = { month = { type = "string" }, total = { type = "integer" } } }
queue = "declared"
max_attempts = 2
retry_base_seconds = 1
retry_max_seconds = 2
"""


def server_binary() -> str:
    for candidate in (os.environ.get("RAMPART_BINARY"), "/tmp/rampart-sdk-bin",
                      str(REPO_ROOT / "build" / "rampart")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no rampart binary: set RAMPART_BINARY")


def config_toml(extra: str = "") -> str:
    queues = ", ".join(f'"{q}"' for q in ["default", *EXTERNAL_QUEUES])
    tables = "".join(f'\n[jobs.queue."{q}"]\nconcurrency = 0\n' for q in EXTERNAL_QUEUES)
    return f"""
access_log = false
[schedules]
allow_users = true
[jobs]
queues = [{queues}]
{tables}
{extra}
"""


HIGH_LIMITS = """
[rate_limits]
anon = "1000000/hour"
user = "1000000/hour"
[rate_limits.scopes]
login = "100000/hour"
"jobs.submit" = "1000000/hour"
"""


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    directory: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def admin_token(self) -> str:
        return login(self.url, "admin", ADMIN_PASSWORD)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(directory: Path, toml: str) -> Server:
    (directory / "data").mkdir(parents=True, exist_ok=True)
    (directory / "admin-password").write_text(ADMIN_PASSWORD + "\n")
    (directory / "rampart.toml").write_text(toml)
    port_file = directory / "port"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPART_")}
    env.update({
        "RAMPART_ADMIN_PASSWORD_FILE": str(directory / "admin-password"),
        "RAMPART_SECRET_KEY": SECRET_KEY,
        "RAMPART_DATA_DIR": str(directory / "data"),
        "RAMPART_AUTH__ARGON2_OPS_LIMIT": "2",
        "RAMPART_AUTH__ARGON2_MEMORY_KIB": "19456",
        "RAMPART_THREADS": "2",
    })
    with open(directory / "server.log", "wb") as out:
        process = subprocess.Popen(
            [server_binary(), "--config", str(directory / "rampart.toml"), "serve",
             "--listen", "127.0.0.1:0", "--port-file", str(port_file)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = port_file.read_text() if port_file.exists() else ""
        if text.endswith("\n"):
            return Server(f"http://127.0.0.1:{int(text)}", process, directory)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the server did not start:\n" + (directory / "server.log").read_text())


def login(url: str, username: str, password: str) -> str:
    r = requests.post(url + "/api/v1/auth/login", json={"username": username, "password": password},
                      timeout=30)
    r.raise_for_status()
    return str(r.json()["access_token"])


def make_token(url: str, admin: str, username: str, role: str, scopes: list[str]) -> str:
    """A user with this role (made by the admin) and a personal API token of theirs with these scopes."""
    r = requests.post(url + "/api/v1/users", headers={"Authorization": "Bearer " + admin},
                      json={"username": username, "role": role, "password": USER_PASSWORD}, timeout=30)
    assert r.status_code == 201, r.text
    access = login(url, username, USER_PASSWORD)
    r = requests.post(url + "/api/v1/tokens", headers={"Authorization": "Bearer " + access},
                      json={"name": "python-sdk-tests", "scopes": scopes}, timeout=30)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


USER_SCOPES = ["jobs:read", "jobs:write", "schedules:read", "schedules:write"]


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="rampart-sdk-") as tmp:
        srv = start_server(Path(tmp), config_toml(DECLARED_TASKS + HIGH_LIMITS))
        try:
            admin = srv.admin_token()
            srv.tokens["alice"] = make_token(srv.url, admin, "alice", "user", USER_SCOPES)
            srv.tokens["bob"] = make_token(srv.url, admin, "bob", "user", USER_SCOPES)
            srv.tokens["worker"] = make_token(srv.url, admin, "worker1", "worker", ["worker"])
            yield srv
        finally:
            srv.stop()


@pytest.fixture()
def alice(server: Server):
    import rampart

    return rampart.Client(server.url, token=server.tokens["alice"])


@pytest.fixture()
def bob(server: Server):
    import rampart

    return rampart.Client(server.url, token=server.tokens["bob"])


@pytest.fixture()
def worker_client(server: Server):
    import rampart

    return rampart.Client(server.url, token=server.tokens["worker"])


def worker_process(server: Server, queue: str, *extra: str, log_path: Path | None = None
                   ) -> subprocess.Popen[bytes]:
    """``python -m rampart worker worker_app:worker`` in a process of its own."""
    env = dict(os.environ)
    env.update({"RAMPART_URL": server.url, "RAMPART_TOKEN": server.tokens["worker"],
                "PYTHONPATH": os.pathsep.join([str(SDK_ROOT / "src"), str(HERE)])})
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "rampart", "worker", "worker_app:worker",
                             "--queues", queue, *extra], env=env, stdout=out,
                            stderr=subprocess.STDOUT, cwd=HERE)


def eventually(check, timeout: float = 20.0, interval: float = 0.1):
    """Polls ``check()`` until it answers something truthy; answers that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(interval)
