"""Runs the examples of docs/python.md against the real server."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, SDK_ROOT, eventually

DOC = REPO_ROOT / "docs" / "python.md"


def blocks(first_line: str) -> list[str]:
    found = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    return [b for b in found if b.splitlines()[0].strip() == first_line]


def test_docs_examples_run(server, tmp_path, monkeypatch, alice):
    (tasks_py,) = blocks("# myapp/tasks.py")
    (client_py,) = blocks("# example: client")
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "tasks.py").write_text(tasks_py)
    env = dict(os.environ, RAMPART_URL=server.url, RAMPART_TOKEN=server.tokens["worker"],
               PYTHONPATH=str(SDK_ROOT / "src"))
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "rampart", "worker", "myapp.tasks:worker",
                               "--concurrency", "4", "--queues", "reports", "--log-level", "info"],
                              cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        monkeypatch.setenv("RAMPART_URL", server.url)
        monkeypatch.setenv("RAMPART_TOKEN", server.tokens["alice"])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            namespace: dict = {}
            exec(compile(client_py, str(DOC) + ":client", "exec"), namespace)
        assert namespace["finished"].result == {"report": {"message": "hello"}, "attempt": 1}
        assert [r["report"] for r in namespace["results"]] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert "422 invalid-args" in out.getvalue() and "urn:rampart:problem:not-found" in out.getvalue()

        # The command line: submit --wait, and the async task.
        cli_env = dict(env, RAMPART_TOKEN=server.tokens["alice"])
        done = subprocess.run([sys.executable, "-m", "rampart", "submit", "sleep", "--args",
                               '{"seconds": 0.3}', "--queue", "reports", "--wait", "--timeout", "30"],
                              env=cli_env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["result"] == "rested"
        bad = subprocess.run([sys.executable, "-m", "rampart", "submit", "sleep", "--args", "{}"],
                             env=cli_env, capture_output=True, timeout=60)
        assert bad.returncode == 1 and b"invalid-args" in bad.stderr
        assert server.tokens["alice"].encode() not in bad.stderr + done.stdout + done.stderr
    finally:
        worker.terminate()
        assert worker.wait(30) == 0
    assert server.tokens["worker"].encode() not in (tmp_path / "worker.log").read_bytes()
