"""CPU per GET of the HTTP clients an ``http`` source could use, under gevent.

    python bench/http_client.py [--calls 3000] [--rounds 5] [--out FILE]

The clients: urllib3 (``PoolManager`` and ``HTTPConnectionPool``), one kept-alive
``http.client`` connection, geventhttpclient (``HTTPClient`` for one host, and
``HTTPClientPool``, which a drop-in for any URL would use) and flask-fanout's
``HttpClient``. Each makes sequential keep-alive GETs of ``/api/data`` on the bundled
demo upstream (a separate process on 127.0.0.1), inside a gevent-patched
process as in ``fanout serve``'s workers. Process CPU time per call on the
client side is what counts: at hundreds of requests per second on 2 cores it
decides the race. Rounds interleave the clients; the table gives medians.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import urllib3  # noqa: E402
from geventhttpclient import HTTPClient as GeventHTTPClient  # noqa: E402
from geventhttpclient.client import HTTPClientPool  # noqa: E402

from flask_fanout.service.sources.http import HttpClient  # noqa: E402
from harness.results import heading  # noqa: E402

RESULTS = Path(__file__).with_name("results") / "http_client.md"


def clients(base: str) -> dict[str, Callable[[], object]]:
    url = base + "/api/data"
    manager = urllib3.PoolManager(maxsize=10, retries=False)
    host_pool = urllib3.connection_from_url(url, maxsize=10, retries=False)
    timeout = urllib3.Timeout(connect=2.0, read=2.0)
    kept_alive = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=2.0)
    ours = HttpClient(10)
    gevent_client = GeventHTTPClient.from_url(
        url, concurrency=10, connection_timeout=2.0, network_timeout=2.0
    )
    gevent_pool = HTTPClientPool(concurrency=10, connection_timeout=2.0, network_timeout=2.0)

    def pool_manager() -> object:
        response = manager.request("GET", url, timeout=timeout)
        return json.loads(response.data)

    def connection_pool() -> object:
        response = host_pool.urlopen("GET", "/api/data", timeout=timeout, retries=False)
        return json.loads(response.data)

    def standard_library() -> object:
        # The least http.client can do: one reused connection, no pool, no error mapping.
        kept_alive.request("GET", "/api/data")
        return json.loads(kept_alive.getresponse().read())

    def geventhttpclient_host() -> object:
        # One client per host, built beforehand: the least geventhttpclient can do.
        return json.loads(gevent_client.get("/api/data").read())

    def geventhttpclient_pool() -> object:
        # What a drop-in for our client needs: any URL, a client looked up per host.
        return json.loads(gevent_pool.get_client(url).get("/api/data").read())

    def flask_fanout() -> object:
        return json.loads(ours.get(url, 2.0, 1 << 20)[2])

    return {
        "urllib3 PoolManager.request": pool_manager,
        "urllib3 HTTPConnectionPool.urlopen": connection_pool,
        "http.client, one kept-alive HTTPConnection": standard_library,
        "geventhttpclient HTTPClient.get (one host)": geventhttpclient_host,
        "geventhttpclient HTTPClientPool.get_client(url).get": geventhttpclient_pool,
        "flask-fanout HttpClient (httptools + pool)": flask_fanout,
    }


def cpu_per_call(call: Callable[[], object], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=18051)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the table goes")
    args = parser.parse_args()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "flask_fanout.server.cli", "upstream", "--port", str(args.port)]
    )
    try:
        time.sleep(1.5)
        contenders = clients(f"http://127.0.0.1:{args.port}")
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for call in contenders.values():
            cpu_per_call(call, 200)  # warm up: connections, caches
        for _ in range(args.rounds):
            for name, call in contenders.items():
                samples[name].append(cpu_per_call(call, args.calls))
    finally:
        upstream.terminate()
        upstream.wait()
    ours = statistics.median(samples["flask-fanout HttpClient (httptools + pool)"])
    command = f"python bench/http_client.py --calls {args.calls} --rounds {args.rounds}"
    lines = [
        *heading("HTTP client CPU per call (gevent-patched process)", command),
        "Client-side process CPU time per keep-alive GET of the demo upstream's",
        f"`/api/data`; median of {args.rounds} interleaved rounds of {args.calls} calls.",
        "",
        "| client | µs CPU per call | x flask-fanout |",
        "|---|---|---|",
    ]
    for name, values in samples.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median * 1e6:.0f} | {median / ours:.2f} |")
    report = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
