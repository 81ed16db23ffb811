"""One shared urllib3 keep-alive pool for the thread-based contenders of the http workload."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

import urllib3

# Big enough that no thread ever waits for a connection or throws one away.
_POOL = urllib3.PoolManager(maxsize=1024, timeout=urllib3.Timeout(connect=5.0, read=10.0))


def get_json(url: str) -> object:
    response = _POOL.request("GET", url)
    if response.status >= 400:
        raise RuntimeError(f"{url} answered {response.status}")
    return json.loads(response.data)


def http_sources(urls: dict[str, str]) -> dict[str, Callable[[], object]]:
    """Source name -> a blocking call that fetches that source's URL."""
    return {name: partial(get_json, url) for name, url in urls.items()}
