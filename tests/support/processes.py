"""Process plumbing shared by the test launchers: a free loopback port and a graceful stop."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess

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
