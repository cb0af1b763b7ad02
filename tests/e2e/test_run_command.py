"""``gridsnap run`` as a real process with no token: the sandbox, its address, a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
GRIDSNAP = Path(sys.executable).with_name("gridsnap")
START_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_line(process: subprocess.Popen[str], needle: str) -> str:
    """Read stdout until ``needle`` shows; everything read so far is returned."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + START_TIMEOUT_S
    while needle not in seen and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen += line
    return seen


@pytest.mark.parametrize(
    ("command", "configured"),
    [
        # `make run` with nothing configured.
        (("run",), {}),
        # Explicitly, beside a configured database, which the sandbox leaves alone.
        (("sandbox", "run"), {"GRIDSNAP_DATABASE_URL": "sqlite:///{tmp}/production.db"}),
    ],
    ids=" ".join,
)
def test_run_without_a_token_serves_the_web_chat_and_stops_on_sigterm(
    tmp_path: Path, command: tuple[str, ...], configured: dict[str, str]
):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRIDSNAP_")},
        "GRIDSNAP_SANDBOX_DIR": str(tmp_path / "sandbox"),
        "GRIDSNAP_SANDBOX_PORT": str(port),
        "COLUMNS": "200",
        **{name: value.format(tmp=tmp_path) for name, value in configured.items()},
    }
    address = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(GRIDSNAP), *command],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        printed = _wait_for_line(process, address)
        assert address in printed, printed
        page = httpx.get(address + "/", timeout=10)
        assert page.status_code == 200
        assert 'src="/static/app.js"' in page.text
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest
    assert "Traceback" not in rest
    # The sandbox's own database, under GRIDSNAP_SANDBOX_DIR, and no other.
    assert (tmp_path / "sandbox" / "gridsnap.db").is_file()
    assert not (tmp_path / "production.db").exists()


def test_run_names_the_bad_variable_in_one_line(tmp_path: Path):
    env = {**os.environ, "GRIDSNAP_TIMEZONE": "Mars/Olympus"}
    done = subprocess.run(
        [str(GRIDSNAP), "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "GRIDSNAP_TIMEZONE" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
