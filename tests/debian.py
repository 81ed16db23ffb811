"""Debian packages and server processes for the database fixtures.

CI starts from a clean machine, so a fixture that needs a server installs its
Debian package (``apt-get``, non-interactive) when the binary is missing, and
says why not where it cannot. Servers are started in their own session and
stopped by their PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

_INSTALL_TIMEOUT = 900


def apt_install(package: str) -> str | None:
    """Install a Debian package; the reason it cannot be, or None."""
    if shutil.which("apt-get") is None:
        return f"no apt-get on this machine to install Debian's {package} package"
    if os.geteuid() != 0:
        return f"not root: cannot apt-get install {package} (install it, or run as root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
    ):
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT
        )
        if result.returncode != 0:
            return f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}"
    return None


def installed(find: Callable[[], object], package: str) -> None:
    """Make ``find()`` true by installing ``package``, or skip the test saying why."""
    if find():
        return
    reason = apt_install(package)
    if not find():
        pytest.skip(f"{package} is not available: {reason or 'not found after installing'}")


def server_root(prefix: str, owner: str) -> Path:
    """A new directory under /tmp (not a 0700 pytest one) that ``owner`` may use when root."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        shutil.chown(root, owner, owner)
    return root


def run_as(user: str) -> dict[str, str]:
    """``subprocess`` arguments that run a server as its OS user when we are root."""
    return {"user": user, "group": user} if os.geteuid() == 0 else {}


def stop(process: subprocess.Popen[bytes] | None, signum: int = signal.SIGTERM) -> None:
    """Stop a server by its PID (``signum``, then SIGKILL to its group if it lingers)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
