"""The demo's web server: `manage.py runserver` in a child process, with DEBUG off.

DEBUG stays off so an error shows the plain error page, not settings and local
variables; static files come through whitenoise (config.settings.local) and the
researchers' image thumbnails through the staff-only media view (config.urls).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from demo.plan import PROJECT_DIR

PORT_BUSY = (
    "Port {port} on 127.0.0.1 is already in use (another demo or server?). Stop it, or "
    "choose another port with --port."
)
SERVER_DID_NOT_START = "The web server did not answer within {seconds} s; its log is {log}."


class ServerError(RuntimeError):
    """The web server cannot be started."""


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def server_environment() -> dict[str, str]:
    """The child's environment: this one, with DEBUG off whatever .env or the shell says."""
    return {**os.environ, "DJANGO_DEBUG": "false"}


def start_server(port: int, log: Path, wait_seconds: float = 60.0) -> subprocess.Popen:
    """Start runserver on 127.0.0.1:port, its output going to `log`; wait until it answers."""
    import httpx

    if not port_free(port):
        raise ServerError(PORT_BUSY.format(port=port))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:  # the child keeps its own copy of the descriptor
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=PROJECT_DIR,
            env=server_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServerError(SERVER_DID_NOT_START.format(seconds=int(wait_seconds), log=log))
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz/", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise ServerError(SERVER_DID_NOT_START.format(seconds=int(wait_seconds), log=log))


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
