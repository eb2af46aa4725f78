"""REST API benchmark: p50 latency of the 1y heat map of /api/v1/ as sparse JSON, dense JSON and PNG.

In-process (Django's test client, gzip accepted as a browser or curl --compressed would), over the
sample set with its maps computed; the decoded grids come from the Redis cache after the first
request, as in production. Prints figures; asserts nothing.
Run: make bench  (or LIQ_TESTING=1 .venv/bin/python bench/bench_api.py)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Far above what the benchmark sends: it measures the endpoint, not the throttle.
os.environ.setdefault("LIQ_API_ANON_RATE", "1000000/min")
os.environ.setdefault("LIQ_API_USER_RATE", "1000000/min")
from bench_db import setup

setup()

import numpy as np  # noqa: E402
from django.test import Client  # noqa: E402

from heatmaps import exports  # noqa: E402
from heatmaps.maps import heatmap_compute, read_heatmap  # noqa: E402
from heatmaps.marketdata import load_sample_data  # noqa: E402
from heatmaps.models import Asset  # noqa: E402

RUNS = 40
URL = "/api/v1/assets/BTCUSDT/heatmap/?timeframe=1y"
VARIANTS = {
    "JSON, sparse cells": URL,
    "JSON, dense float32 cells": URL + "&cells=dense",
    "CSV (streamed cells)": URL + "&format=csv",
    "PNG 1200 × 600": URL + "&format=png",
}


def main() -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["1y"])
    stored = read_heatmap(asset=btc, timeframe="1y")
    assert stored is not None
    cells = int(np.count_nonzero(stored.long) + np.count_nonzero(stored.short))
    print(
        f"1y map of the sample set: {stored.heatmap.width} columns × {stored.heatmap.bins} bins, {cells} non-zero cells"
    )
    client = Client(HTTP_ACCEPT_ENCODING="gzip", HTTP_HOST="127.0.0.1")
    print(f"{'variant':<28} {'p50 ms':>8} {'p90 ms':>8} {'bytes sent':>11}")
    for name, url in VARIANTS.items():
        times = []
        size = 0
        for _ in range(RUNS):
            started = time.perf_counter()
            response = client.get(url)
            body = response.getvalue()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            size = len(body)
        times.sort()
        print(f"{name:<28} {statistics.median(times):8.1f} {times[int(RUNS * 0.9)]:8.1f} {size:11,d}")
    etag = client.get(URL)["ETag"]
    started = time.perf_counter()
    for _ in range(RUNS):
        assert client.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    print(f"{'304 on a matching ETag':<28} {(time.perf_counter() - started) * 1000 / RUNS:8.1f}  (mean)")
    worst_case(stored.heatmap.width, stored.heatmap.bins)


def worst_case(width: int, bins: int) -> None:
    """The sample's 1y map has a month of data; a full year fills far more cells. Every cell non-zero
    bounds what sparse JSON can cost: the export and encoding alone, no database."""
    rng = np.random.default_rng(1)
    grids = [rng.uniform(1, 5e6, (width, bins)).astype(np.float32) for _ in range(2)]
    times = []
    for _ in range(10):
        started = time.perf_counter()
        body = json.dumps(
            {"long": exports.sparse_cells(grids[0], min_usd=0), "short": exports.sparse_cells(grids[1], min_usd=0)}
        )
        times.append((time.perf_counter() - started) * 1000)
    dense = [exports.dense_base64(g) for g in grids]
    print(
        f"every cell non-zero ({2 * width * bins:,d} cells): sparse triples + JSON {statistics.median(times):.0f} ms, "
        f"{len(body):,d} bytes before gzip; dense base64 {sum(len(d) for d in dense):,d} bytes"
    )


if __name__ == "__main__":
    main()
