"""Fixtures: the real server binary, started once per session, and its users and tokens.

The server keeps its jobs in SQLite (the embedded store) unless a test asks for both stores with
``@both_stores``: it then runs twice, the second time against a server on a real PostgreSQL that the
session starts from Debian's ``postgresql`` package (``/usr/lib/postgresql/<major>/bin``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
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
    for candidate in (os.environ.get("RAMPART_BINARY"), str(REPO_ROOT / "build" / "rampart")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    # A failure, not a skip: a suite that skips every test for want of a server proves nothing.
    pytest.fail("no rampart binary: set RAMPART_BINARY (make python-sdk builds one)", pytrace=False)


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


def start_server(directory: Path, toml: str | None = None, *, config: Path | None = None,
                 database_url: str | None = None, env_extra: dict[str, str] | None = None) -> Server:
    """Starts the binary with this configuration (``toml`` text, or the file ``config``), an SQLite
    store in ``directory`` unless ``database_url`` names another, and ``env_extra`` on top."""
    (directory / "data").mkdir(parents=True, exist_ok=True)
    (directory / "admin-password").write_text(ADMIN_PASSWORD + "\n")
    if config is None:
        config = directory / "rampart.toml"
        config.write_text(toml or "")
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
    if database_url:
        env["RAMPART_DATABASE_URL"] = database_url
    env.update(env_extra or {})
    with open(directory / "server.log", "wb") as out:
        process = subprocess.Popen(
            [server_binary(), "--config", str(config), "serve",
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


@contextlib.contextmanager
def suite_server(database_url: str | None = None) -> Iterator[Server]:
    """The suite's server (queues, declared task types, high limits) with alice, bob and worker1."""
    with tempfile.TemporaryDirectory(prefix="rampart-sdk-") as tmp:
        srv = start_server(Path(tmp), config_toml(DECLARED_TASKS + HIGH_LIMITS),
                           database_url=database_url)
        try:
            admin = srv.admin_token()
            srv.tokens["alice"] = make_token(srv.url, admin, "alice", "user", USER_SCOPES)
            srv.tokens["bob"] = make_token(srv.url, admin, "bob", "user", USER_SCOPES)
            srv.tokens["worker"] = make_token(srv.url, admin, "worker1", "worker", ["worker"])
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="session")
def sqlite_server() -> Iterator[Server]:
    with suite_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def postgres_server(postgres: "Postgres") -> Iterator[Server]:
    with suite_server(postgres.create_database("rampart_sdk_tests")) as srv:
        yield srv


@pytest.fixture()
def server(request: pytest.FixtureRequest) -> Server:
    """The SQLite server; with ``@both_stores``, each store's server in turn."""
    store = getattr(request, "param", "sqlite")
    return request.getfixturevalue(f"{store}_server")


#: Runs a test once per store: ``test_x[sqlite]``, ``test_x[postgres]``.
both_stores = pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)


# ---- PostgreSQL --------------------------------------------------------------------------------

def postgres_bin() -> Path:
    """The newest server installed the Debian way: /usr/lib/postgresql/<major>/bin."""
    found = sorted((p for p in Path("/usr/lib/postgresql").glob("*/bin")
                    if p.parent.name.isdigit() and (p / "initdb").exists()),
                   key=lambda p: int(p.parent.name))
    if not found:
        raise RuntimeError("no PostgreSQL server: no /usr/lib/postgresql/*/bin/initdb "
                           "(apt-get install postgresql; make deps installs it)")
    return found[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postgres:
    """A throw-away PostgreSQL on 127.0.0.1: password logins over TCP only, no fsync (its data never
    outlives the session), its postmaster our child so that it is stopped by its own PID."""

    bin: Path
    directory: Path
    port: int
    password: str
    process: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                               "-d", self.url(database), "-c", sql],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: ends sessions, checkpoints, exits
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_postgres(directory: Path) -> Postgres:
    """initdb and postgres in ``directory``. PostgreSQL refuses to run as root: as root, both run as
    the ``postgres`` user that Debian's package creates (Popen's ``user=``, so that the PID we hold is
    the postmaster's own, which a wrapper such as runuser would hide), in a directory made theirs."""
    bin_dir = postgres_bin()
    as_root = os.geteuid() == 0
    account: dict = {}
    if as_root:
        account = {"user": "postgres", "group": "postgres", "extra_groups": []}
        shutil.chown(directory, "postgres", "postgres")
    password = secrets.token_urlsafe(24)
    pwfile = directory / "superuser-password"
    pwfile.write_text(password + "\n")
    if as_root:
        shutil.chown(pwfile, "postgres", "postgres")
    data = directory / "data"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LC_ALL": "C"}
    initdb = subprocess.run([str(bin_dir / "initdb"), f"--pgdata={data}", "--username=postgres",
                             f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C",
                             "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--no-sync"],
                            env=env, cwd=directory, capture_output=True, text=True, timeout=120,
                            **account)
    pwfile.unlink()
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
    (data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 scram-sha-256\n")
    log = directory / "postgres.log"
    for _attempt in range(5):  # another process may take the probed port before postgres binds it
        port = free_port()
        offset = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={directory}",
                 "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200"],
                env=env, cwd=directory, stdout=out, stderr=subprocess.STDOUT, **account)
        pg = Postgres(bin_dir, directory, port, password, process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            # postmaster.pid names this PID and says "ready" once *this* server accepts connections.
            lines = (data / "postmaster.pid").read_text().splitlines() \
                if (data / "postmaster.pid").exists() else []
            if len(lines) >= 8 and lines[0] == str(process.pid) and lines[7].startswith("ready"):
                pg.psql("SELECT 1")
                return pg
            time.sleep(0.05)
        tail = log.read_bytes()[offset:].decode(errors="replace")
        pg.stop()
        if "Address already in use" not in tail:
            raise RuntimeError(f"PostgreSQL did not start:\n{tail}")
    raise RuntimeError("PostgreSQL found no free port in five attempts")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with tempfile.TemporaryDirectory(prefix="rampart-sdk-pg-") as tmp:
        pg = start_postgres(Path(tmp))
        try:
            yield pg
        finally:
            pg.stop()


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
