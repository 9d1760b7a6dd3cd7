"""The embedded path for real: no DATABASE_URL / REDIS_URL, the launcher starts PostgreSQL and Redis,
the app serves on them, and stopping the launcher stops both."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEADLINE_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, what: str, timeout_s: float = DEADLINE_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def var_dir():
    path = Path(tempfile.mkdtemp(prefix="exe", dir="/tmp"))  # short: PostgreSQL puts its Unix socket here
    yield path
    subprocess.run([sys.executable, "-m", "exchange.embedded", "stop"], cwd=ROOT, capture_output=True,
                   env={**os.environ, "EXCHANGE_VAR_DIR": str(path)}, timeout=60)  # fmt: skip
    shutil.rmtree(path, ignore_errors=True)


def test_embedded_launcher_serves_and_cleans_up(var_dir):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(EXCHANGE_VAR_DIR=str(var_dir), PORT=str(port), CACHE_PREFIX="embedded_test", TESTNET_ONLY="false")
    embed = [sys.executable, "-m", "exchange.embedded", "--"]
    script = (f"{sys.executable} manage.py migrate -v0 && {sys.executable} manage.py seed_demo && "
              f"exec {BIN}/gunicorn exchange.wsgi:application --bind 127.0.0.1:{port} --workers 1")  # fmt: skip
    log = (var_dir / "launcher.log").open("wb")  # a file, not a pipe nobody drains
    launcher = subprocess.Popen([*embed, "sh", "-c", script], cwd=ROOT, env=env, start_new_session=True,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:

        def health():
            if launcher.poll() is not None:
                output = (var_dir / "launcher.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"launcher exited {launcher.returncode}: {output}")
            try:
                return _get(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                return None

        status, body = _wait_for(health, "/healthz")
        report = json.loads(body)
        assert (report["database"], report["redis"]) == ("ok", "ok")
        assert status == (200 if all(v == "ok" for v in report["engine"].values()) else 503)

        state = json.loads((var_dir / "embedded.json").read_text())
        redis_pid = int(state["redis_pid"])
        postgres_pid = int((var_dir / "pg" / "postmaster.pid").read_text().split()[0])
        assert _alive(redis_pid) and _alive(postgres_pid)

        # A second launcher in the same place reuses the running servers and leaves them running.
        minted = subprocess.run([*embed, sys.executable, "manage.py", "mint_token", "alice"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=DEADLINE_S, check=True)  # fmt: skip
        token = minted.stdout.strip().splitlines()[-1]
        assert _alive(redis_pid) and _alive(postgres_pid)

        assert _get(f"http://127.0.0.1:{port}/spot/balances", token) == (200, b"[]")
        status, body = _get(f"http://127.0.0.1:{port}/spot/markets")
        assert status == 200
        assert [m["symbol"] for m in json.loads(body)] == ["BTC_USDT", "DF_USDT", "ETH_USDT"]

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=DEADLINE_S) == 0
        _wait_for(lambda: not _alive(postgres_pid) and not _alive(redis_pid), "embedded servers to stop", 20)
        assert not (var_dir / "pg" / "postmaster.pid").exists()
        assert "redis_pid" not in json.loads((var_dir / "embedded.json").read_text())
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # gunicorn is gone too
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(timeout=10)
        log.close()


def test_launcher_stopped_while_starting_leaves_nothing_running(var_dir):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["EXCHANGE_VAR_DIR"] = str(var_dir)
    launcher = subprocess.Popen([sys.executable, "-m", "exchange.embedded", "--", "sleep", "60"], cwd=ROOT, env=env,
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        pidfile = var_dir / "pg" / "postmaster.pid"
        # "ready" in the pidfile: the real server (initdb's bootstrap backend writes one too), with
        # the launcher still busy creating the database and starting Redis.
        _wait_for(lambda: pidfile.exists() and "ready" in pidfile.read_text(), "PostgreSQL to be ready")
        postgres_pid = int(pidfile.read_text().split()[0])
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=DEADLINE_S)
        _wait_for(lambda: not _alive(postgres_pid), "PostgreSQL to stop", 20)
        state = json.loads((var_dir / "embedded.json").read_text()) if (var_dir / "embedded.json").exists() else {}
        assert "redis_pid" not in state
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(timeout=10)


def test_an_empty_var_dir_setting_means_the_default_not_the_current_directory(tmp_path):
    code = "import exchange.embedded as e, exchange.settings as s; print(e.VAR); print(s.VAR_DIR)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "EXCHANGE_VAR_DIR": "", "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert out.stdout.split() == [str(ROOT / "var"), str(ROOT / "var")]
