"""Process plumbing shared by the test launchers: a free loopback port and a graceful stop."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_gracefully(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM (services flush on it), then SIGKILL if the process has not exited within `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return int(process.returncode)


def die_with_parent() -> None:
    """A `preexec_fn`: the child gets SIGKILL when the thread that started it dies (Linux), so servers
    started in their own session do not outlive a test run that was killed."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_tool(
    command: list[str],
    *,
    env: Mapping[str, str],
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run a CLI (kubectl, helm) to completion; with `check`, a failure raises with its stderr."""
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout,
        check=False,
    )  # fmt: skip
    if check and result.returncode != 0:
        name = os.path.basename(command[0])
        raise RuntimeError(
            f"{name} {' '.join(command[1:])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def kubectl_path() -> str:
    """kubectl from .tools/v35 (make tools), else the one on PATH."""
    local = Path(__file__).resolve().parents[2] / ".tools" / "v35" / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: run `make tools`")
    return found
