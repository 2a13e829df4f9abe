"""Profiling a Parquet file batch by batch gives the in-memory profile exactly, in memory bounded by the batch."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.monitoring.profiles import Profile, build_reference_profile, profile_drift, profile_like, profile_parquet

pytestmark = pytest.mark.slow

ROWS = 4_000_000
ROW_GROUP = 250_000
CITIES = np.array(["paris", "rome", "oslo", "lima", "kyiv", "lagos", "quito"])


def _table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, rows)
    x[rng.random(rows) < 0.02] = np.nan
    return pa.table(
        {
            "x": x,
            "amount": rng.lognormal(3.0, 1.0, rows),
            "count": rng.poisson(4, rows),
            "city": CITIES[rng.integers(0, CITIES.size, rows)],
            "flag": rng.integers(0, 2, rows),
        }
    )


def _write(path: Path, rows: int) -> int:
    """Write ``rows`` rows in row groups; return their in-memory (Arrow) size in bytes."""
    size = 0
    with pq.ParquetWriter(path, _table(1, 0).schema) as writer:
        for start in range(0, rows, ROW_GROUP):
            table = _table(min(ROW_GROUP, rows - start), seed=start)
            size += table.nbytes
            writer.write_table(table, row_group_size=ROW_GROUP)
    return size


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, Profile]:
    folder = tmp_path_factory.mktemp("profiles")
    path = folder / "current.parquet"
    size = _write(path, ROWS)
    reference = build_reference_profile(_table(200_000, seed=-1 % 2**32))
    return path, size, reference


def _same(a: Profile, b: Profile) -> bool:
    """Counts, extremes, edges, histograms and categories equal; moments and bin sums equal to 1e-12."""

    def moments(profile: Profile) -> list[float]:
        return [v for c in profile.columns for v in (c.mean, c.m2, *c.bin_sums)]

    def exact(profile: Profile) -> Profile:
        return replace(profile, columns=tuple(replace(c, mean=0.0, m2=0.0, bin_sums=()) for c in profile.columns))

    close = all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9) for x, y in zip(moments(a), moments(b), strict=True))
    return exact(a) == exact(b) and close


def test_streamed_profile_equals_the_in_memory_profile(data: tuple[Path, int, Profile]) -> None:
    path, _, reference = data
    streamed = profile_parquet(path, reference=reference, batch_rows=300_000)
    in_memory = profile_like(reference, pq.read_table(path))
    assert (ROWS, True) == (streamed.rows, _same(in_memory, streamed))


def test_streamed_reference_pass_equals_the_in_memory_one(data: tuple[Path, int, Profile]) -> None:
    path, _, _ = data
    streamed = profile_parquet(path, batch_rows=700_000)
    in_memory = build_reference_profile(pq.read_table(path))
    assert _same(in_memory, streamed)


def test_streamed_profile_drifts_like_the_in_memory_one(data: tuple[Path, int, Profile]) -> None:
    path, _, reference = data
    streamed = profile_drift(reference, profile_parquet(path, reference=reference, batch_rows=500_000))
    in_memory = profile_drift(reference, profile_like(reference, pq.read_table(path)))
    expected = [(c.column, c.test, c.drifted) for c in in_memory.columns]
    assert (expected, [False] * 5) == (
        [(c.column, c.test, c.drifted) for c in streamed.columns],
        [c.drifted for c in streamed.columns],
    )


_MEASURE = """
import json, sys
from pathlib import Path
from shipyard.monitoring.profiles import Profile, profile_parquet

def peak_kb():
    # VmHWM, not getrusage: ru_maxrss survives exec, so a child forked from pytest starts at pytest's peak
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1])

reference = Profile.load(sys.argv[1])
profile_parquet(sys.argv[3], reference=reference, batch_rows=1_000)  # warm up imports and Arrow's allocator
before = peak_kb()
profile = profile_parquet(sys.argv[2], reference=reference, batch_rows=int(sys.argv[4]))
print(json.dumps({"rows": profile.rows, "before_kb": before, "after_kb": peak_kb()}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak resident size from /proc")
def test_peak_memory_grows_with_the_batch_not_the_file(data: tuple[Path, int, Profile], tmp_path: Path) -> None:
    path, size, reference = data
    reference.save(tmp_path / "reference.json")
    small = tmp_path / "small.parquet"
    pq.write_table(_table(5_000, seed=7), small)
    quarter = tmp_path / "quarter.parquet"
    _write(quarter, ROWS // 4)

    def growth_bytes(file: Path) -> int:
        arguments = [str(tmp_path / "reference.json"), str(file), str(small), str(ROWS // 40)]
        run = subprocess.run([sys.executable, "-c", _MEASURE, *arguments], capture_output=True, text=True, check=True)
        result = json.loads(run.stdout)
        assert result["rows"] in (ROWS, ROWS // 4)
        return int(result["after_kb"] - result["before_kb"]) * 1024

    whole, part = growth_bytes(path), growth_bytes(quarter)
    print(
        f"in memory {size / 2**20:.0f} MiB; peak RSS growth {whole / 2**20:.0f} MiB (quarter file: {part / 2**20:.0f})"
    )
    # A 4x larger file adds little, and the growth stays well below holding the file (mostly a fixed cost of Arrow's
    # allocator and the batch; on a busy machine it measured 60-80 MiB for this 154 MiB file).
    assert (True, True) == (whole < part + 32 * 2**20, whole < size * 3 / 4)
