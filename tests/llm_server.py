"""Start a real OpenAI-compatible server (`python -m llama_cpp.server`) on 127.0.0.1 for tests.

Usage::

    with start_llama_server(model_path) as (process, base_url):
        chat = OpenAIChat(base_url)
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def start_llama_server(
    model_path: str | Path, n_ctx: int = 2048, *, n_threads: int = 2, startup_timeout: float = 120.0
) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run `llama_cpp.server` on a free 127.0.0.1 port until the block exits.

    Waits until `/v1/models` answers (up to `startup_timeout` seconds) and always terminates
    the server afterwards. The server's output goes to a temporary log file whose tail is
    included in the error if it fails to start.

    Yields:
        (process, base_url) with base_url like `http://127.0.0.1:PORT/v1`.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.NamedTemporaryFile("w+b", prefix="llama-server-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(n_threads),
    ]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until_ready(process, base_url, startup_timeout, log_path)
        yield process, base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        with contextlib.suppress(OSError):
            log_path.unlink()


def _wait_until_ready(process: subprocess.Popen, base_url: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                if response.status == 200 and json.load(response).get("data"):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama_cpp.server did not answer within {timeout:g} s:\n{_tail(log_path)}")


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"
