"""Benchmark 2: search_runs over many runs.

Set-up (timed separately, not part of the headline): `runs` runs in one experiment,
each created with `create_run` and then filled with ONE `log_batch` call carrying
3 params, 3 metrics and 2 tags, from a pool of `threads` threads. The data is
generated from a fixed seed, so both servers get exactly the same runs:
half the runs have params.model = 'rf' and metrics.accuracy is uniform in [0, 1),
so the filter below matches ~25% of the runs.

Timed: `repeats` calls (after one untimed warm-up call) of

    MlflowClient.search_runs(experiment_ids=[exp], filter_string=FILTER,
                             order_by=["metrics.accuracy DESC"], max_results=100)

reported as p50 / p95 latency. The returned page is checked against the
expected top 100 computed locally.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from bench.common import Figure, Throttled, now_ms, progress, time_calls

NAME = "search_runs"
TITLE = "search_runs (filter + order_by, 100 results)"
HEADLINE = "p50_ms"
TARGET_RATIO = 20.0
FIGURES = {
    "p50_ms": Figure("p50 latency", "ms", higher_is_better=False),
    "p95_ms": Figure("p95 latency", "ms", higher_is_better=False),
    "populate_runs_per_s": Figure("populate (8 threads)", "runs/s", higher_is_better=True),
}
FULL = {"runs": 10_000, "threads": 8, "repeats": 20, "max_results": 100}
QUICK = {"runs": 400, "threads": 8, "repeats": 10, "max_results": 100}

FILTER = "metrics.accuracy > 0.5 and params.model = 'rf'"
ORDER_BY = ["metrics.accuracy DESC"]
SEED = 20240601
MODELS = ("rf", "xgb", "rf", "lr")  # run i gets MODELS[i % 4]: exactly half are 'rf'


def make_specs(n: int) -> list[dict]:
    """Deterministic run contents (same on every target)."""
    rng = random.Random(SEED)
    specs = []
    for i in range(n):
        acc = rng.random()
        specs.append(
            {
                "name": f"run-{i:05d}",
                "params": {
                    "model": MODELS[i % 4],
                    "learning_rate": rng.choice(["0.01", "0.03", "0.1", "0.3"]),
                    "max_depth": str(rng.randint(2, 12)),
                },
                "metrics": {
                    "accuracy": acc,
                    "loss": 1.0 - acc + rng.uniform(-0.05, 0.05),
                    "f1": acc * rng.uniform(0.8, 1.0),
                },
                "tags": {"team": rng.choice(["vision", "nlp", "tabular"]), "stage": rng.choice(["dev", "prod"])},
            }
        )
    return specs


def expected_top(specs: list[dict], k: int) -> list[float]:
    hits = [s["metrics"]["accuracy"] for s in specs if s["params"]["model"] == "rf" and s["metrics"]["accuracy"] > 0.5]
    return sorted(hits, reverse=True)[:k]


def populate(client: MlflowClient, exp_id: str, specs: list[dict], threads: int) -> float:
    """Create all runs from a thread pool; return elapsed seconds."""
    ts = now_ms()
    done = 0
    lock = threading.Lock()
    say = Throttled(5.0)
    t_start = time.perf_counter()

    def one(spec: dict) -> None:
        run_id = client.create_run(exp_id, start_time=ts, run_name=spec["name"]).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, 0) for k, v in spec["metrics"].items()],
            params=[Param(k, v) for k, v in spec["params"].items()],
            tags=[RunTag(k, v) for k, v in spec["tags"].items()],
        )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(one, s) for s in specs]
        try:
            for fut in as_completed(futures):
                fut.result()  # first failure aborts the benchmark
                with lock:
                    done += 1
                el = time.perf_counter() - t_start
                rate = done / el if el > 0 else 0.0
                eta = (len(specs) - done) / rate if rate > 0 else float("nan")
                say(
                    f"search_runs: populated {done}/{len(specs)} runs ({rate:.1f} runs/s, ETA {eta:.0f}s)",
                    force=done == len(specs),
                )
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return time.perf_counter() - t_start


def run(client: MlflowClient, sizes: dict) -> dict:
    n, threads, repeats, k = sizes["runs"], sizes["threads"], sizes["repeats"], sizes["max_results"]
    exp_id = client.create_experiment(f"bench-search-runs-{uuid.uuid4().hex[:8]}")
    specs = make_specs(n)
    want = expected_top(specs, k)
    progress(f"search_runs: populating {n} runs with {threads} threads")
    populate_s = populate(client, exp_id, specs, threads)

    def search(_i: int = 0):
        return client.search_runs(experiment_ids=[exp_id], filter_string=FILTER, order_by=ORDER_BY, max_results=k)

    t0 = time.perf_counter()
    first = search()
    first_s = time.perf_counter() - t0
    progress(f"search_runs: timing {repeats} searches")
    sw = time_calls(search, repeats)

    checks: list[str] = []
    got = [r.data.metrics.get("accuracy") for r in first]
    if len(got) != len(want):
        checks.append(f"search returned {len(got)} runs, expected {len(want)}")
    elif not all(g is not None and math.isclose(g, w, rel_tol=1e-12) for g, w in zip(got, want, strict=True)):
        checks.append("search results differ from the expected top runs by accuracy")
    if any(r.data.params.get("model") != "rf" for r in first):
        checks.append("search returned runs whose params.model != 'rf'")
    if first and (
        len(first[0].data.params) != 3
        or len(first[0].data.metrics) != 3
        or not {"team", "stage"} <= set(first[0].data.tags)
    ):
        checks.append("returned runs do not carry their 3 params / 3 metrics / 2 tags")

    matching = sum(1 for s in specs if s["params"]["model"] == "rf" and s["metrics"]["accuracy"] > 0.5)
    return {
        **sw.summary(),
        "first_call_ms": first_s * 1e3,
        "runs": n,
        "matching_runs": matching,
        "matching_fraction": matching / n if n else 0.0,
        "repeats": repeats,
        "populate_s": populate_s,
        "populate_runs_per_s": n / populate_s if populate_s > 0 else 0.0,
        "checks": checks,
    }
