"""A local S3-compatible server for the storage tests: s3rver (npm), started per module.

scripts/system-deps installs it (tests/storage/s3rver). The bucket "media" exists from
the start; the server keeps its objects in a temporary folder and stops afterwards.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

S3RVER = Path(__file__).resolve().parent / "s3rver" / "node_modules" / ".bin" / "s3rver"
BUCKET = "media"
ACCESS_KEY = SECRET_KEY = "S3RVER"  # s3rver's built-in credentials


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} stopped while starting")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {seconds:.0f} s")


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """The URL of a running S3-compatible server with an empty bucket "media"."""
    if not S3RVER.exists() or shutil.which("node") is None:
        pytest.fail("s3rver is not installed: run scripts/system-deps (make test does)")
    folder = tmp_path_factory.mktemp("s3")
    port = free_port()
    process = subprocess.Popen(
        [
            str(S3RVER),
            "--directory",
            str(folder),
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            "--configure-bucket",
            BUCKET,
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_environment(endpoint: str) -> dict[str, str]:
    """The environment variables that put media on the object store."""
    return {
        "MEDIA_S3_BUCKET": BUCKET,
        "MEDIA_S3_ENDPOINT": endpoint,
        "MEDIA_S3_ACCESS_KEY": ACCESS_KEY,
        "MEDIA_S3_SECRET_KEY": SECRET_KEY,
        "MEDIA_S3_REGION": "us-east-1",
    }
