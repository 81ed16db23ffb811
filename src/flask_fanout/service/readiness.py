"""Readiness of the configured sources, for ``GET /readyz``.

Only what belongs to this instance is checked, and cheaply enough for every
probe: a file source's file, an SQLite database's file. Remote dependencies (HTTP
APIs, database servers) are not probed: every instance shares them, so taking
instances out of the load balancer when one is down would turn a degraded
answer (``GET /`` reports that source in ``errors``) into no answer at all.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from sqlalchemy.engine import make_url

from .sources import FileSource, HttpSource, Source, SqlSource

NOT_PROBED = "not probed: a remote dependency shared by every instance"


def check_file(path: str, max_bytes: int | None = None) -> tuple[bool, str]:
    """Whether ``path`` is a readable regular file (of at most ``max_bytes``), and why not."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False, f"file not found: {path}"
    except OSError as exc:
        return False, f"cannot stat {path}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return False, f"not a regular file: {path}"
    if not os.access(path, os.R_OK):
        return False, f"not readable: {path}"
    if max_bytes is not None and info.st_size > max_bytes:
        return False, f"{path} is larger than {max_bytes} bytes"
    return True, f"file {path}"


def check_source(source: Source) -> dict[str, Any]:
    """One source's readiness: ``{"ready", "type", "detail"}``."""
    if isinstance(source, FileSource):
        ready, detail = check_file(source.path, source.max_bytes)
        return {"ready": ready, "type": "file", "detail": detail}
    if isinstance(source, SqlSource):
        url = make_url(source.url)
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
            ready, detail = check_file(database.removeprefix("file:").split("?")[0])
            return {"ready": ready, "type": "sql", "detail": f"SQLite {detail}"}
        return {"ready": True, "type": "sql", "detail": NOT_PROBED}
    kind = "http" if isinstance(source, HttpSource) else type(source).__name__
    return {"ready": True, "type": kind, "detail": NOT_PROBED}


def breakers_check(states: dict[str, str]) -> dict[str, Any]:
    """The ``breakers`` check of ``/readyz``: always ready, since an open breaker
    degrades one source of ``GET /`` (fast ``circuit_open``, or a stale value) and
    taking the instance out would turn that degraded answer into none."""
    opened = [name for name, state in states.items() if state != "closed"]
    detail = f"not closed: {', '.join(opened)}" if opened else f"{len(states)} closed"
    return {"ready": True, "each": states, "detail": detail}


def sources_check(sources: dict[str, Source]) -> dict[str, Any]:
    """The ``sources`` check of ``/readyz``: ready when every source is."""
    each = {name: check_source(source) for name, source in sorted(sources.items())}
    failing = [f"{name}: {check['detail']}" for name, check in each.items() if not check["ready"]]
    if not sources:
        failing = ["no source is configured"]
    return {
        "ready": not failing,
        "names": sorted(sources),
        "detail": "; ".join(failing) or f"{len(sources)} sources configured",
        "each": each,
    }
