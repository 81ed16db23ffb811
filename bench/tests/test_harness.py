"""The shared harness against real processes: trees, stopping by PID, CPU, quiet, rounds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.meter import CpuMeter
from harness.processes import Server, ServerError, free_port, kill_leftovers
from harness.proctree import alive, cmdline, cpu_seconds, descendants, sample
from harness.quiet import other_cores, wait_for_quiet
from harness.results import merge_sections, split_sections
from harness.rounds import interleave

BUSY = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n"
IGNORE_TERM = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"


def _server_script(port: int) -> str:
    """An HTTP server answering 200 that also starts a child ignoring SIGTERM."""
    return textwrap.dedent(
        f"""
        import subprocess, sys
        from http.server import BaseHTTPRequestHandler, HTTPServer
        subprocess.Popen([sys.executable, "-c", {IGNORE_TERM!r}])
        class Ok(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.send_header("Content-Length", "2")
                self.end_headers(); self.wfile.write(b"ok")
            def log_message(self, *args): pass
        HTTPServer(("127.0.0.1", {port}), Ok).serve_forever()
        """
    )


@pytest.fixture
def busy_child() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", BUSY])
    yield child
    child.kill()
    child.wait()


def test_server_ready_then_stopped_with_its_whole_tree(tmp_path: Path) -> None:
    port = free_port()
    server = Server(
        [sys.executable, "-c", _server_script(port)],
        f"http://127.0.0.1:{port}/",
        log=tmp_path / "log",
    )
    try:
        server.wait_ready(timeout=20)
        deadline = time.monotonic() + 10
        while len(descendants(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = descendants(server.pid)
        assert tree[0] == server.pid and len(tree) == 2
        assert "-c" in cmdline(tree[1])
    finally:
        server.stop(leftover_grace=0.5)
    assert not any(alive(pid) for pid in tree)


def test_server_that_exits_says_so_with_its_output(tmp_path: Path) -> None:
    code = "import sys; print('no config here'); sys.exit(3)"
    server = Server([sys.executable, "-c", code], "http://127.0.0.1:9/", log=tmp_path / "log")
    with pytest.raises(ServerError, match="exited with 3") as error:
        server.wait_ready(timeout=10)
    assert "no config here" in str(error.value)


def test_kill_leftovers_kills_what_outlives_the_grace() -> None:
    stubborn = subprocess.Popen([sys.executable, "-c", IGNORE_TERM])
    try:
        time.sleep(0.3)
        os.kill(stubborn.pid, signal.SIGTERM)
        assert kill_leftovers([stubborn.pid], grace=0.3) == [stubborn.pid]
        assert stubborn.wait(5) == -signal.SIGKILL
    finally:
        stubborn.kill()
        stubborn.wait()


def test_cpu_of_a_busy_child_counts_in_the_tree(busy_child: subprocess.Popen[bytes]) -> None:
    before, tree_before = cpu_seconds(busy_child.pid), sample(os.getpid())
    time.sleep(1.0)
    assert cpu_seconds(busy_child.pid) - before > 0.2
    tree_after = sample(os.getpid())
    assert busy_child.pid in tree_after.pids and tree_after.rss_bytes > 0
    assert tree_after.cpu_seconds - tree_before.cpu_seconds > 0.2


def test_meter_gives_a_watched_process_its_cores(busy_child: subprocess.Popen[bytes]) -> None:
    meter = CpuMeter(lambda: [busy_child.pid])
    snap = meter.start()
    started = time.monotonic()
    time.sleep(1.0)
    meter.stop(snap, time.monotonic() - started)
    watched, rest, _others = meter.cores()
    assert set(meter.cpu) == {busy_child.pid}
    assert watched > 0.2 and rest < watched


def test_a_busy_program_outside_our_tree_is_other_load() -> None:
    # A grandchild whose parent exits leaves our tree: it is someone else's program.
    launch = (
        "import subprocess, sys; "
        f"print(subprocess.Popen([sys.executable, '-c', {BUSY!r}], stdout=-3, stderr=-3).pid)"
    )
    launcher = subprocess.run(
        [sys.executable, "-c", launch], capture_output=True, check=True, text=True, timeout=20
    )
    stranger = int(launcher.stdout)
    try:
        time.sleep(0.2)
        assert stranger not in descendants(os.getpid())
        assert other_cores(1.0) > 0.2
        quiet = wait_for_quiet(max_wait=0.0, threshold=0.0, window=0.3)
        assert quiet.other_cores > 0.2 and quiet.waited_s >= 0.3
    finally:
        os.kill(stranger, signal.SIGKILL)


def test_interleave_rotates_the_order_and_checks_every_result() -> None:
    order: list[str] = []
    seen: list[tuple[str, object]] = []
    contenders = {name: (lambda n=name: order.append(n) or n) for name in ("a", "b", "c")}
    rounds = interleave(contenders, 3, lambda name, result: seen.append((name, result)), 0.0)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert sorted(seen) == sorted((n, n) for n in order)
    assert all(len(times) == 3 for times in rounds.times.values()) and len(rounds.others) == 3


def test_merge_sections_replaces_only_the_named_ones() -> None:
    old = "# Title\n\nintro\n\n## 1. One\n\nold one\n\n### 1a\n\nsub\n\n## 2. Two\n\nold two\n"
    merged = merge_sections(old, {"## 2. Two": "## 2. Two\n\nnew two\n"})
    preamble, sections = split_sections(merged)
    assert preamble.strip() == "# Title\n\nintro"
    assert list(sections) == ["## 1. One", "## 2. Two"]
    assert "### 1a" in sections["## 1. One"] and "new two" in sections["## 2. Two"]
    assert "old two" not in merged
