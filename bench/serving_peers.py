"""The serving bench's peers, BentoML and MLServer: their own virtualenvs, service files and commands.

    .venv/bin/python bench/serving_peers.py              # create (or check) both virtualenvs ahead of a run
    .venv/bin/python bench/serving_peers.py --profiler   # also py-spy, for ``serving_speed.py --profile``

Their dependency sets conflict with Shipyard's, so each gets a virtualenv under ``.bench-venvs/`` (git-ignored),
made with ``python3.11 -m venv`` on first use and pip-installed from the pins below, plus scikit-learn, numpy,
pandas and joblib at the versions in Shipyard's own ``.venv``, so the joblib file of the bench's model loads
there exactly as fitted. A stamp file records what was installed; changing a pin reinstalls.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENVS_DIR = REPO_ROOT / ".bench-venvs"
PYTHON = os.environ.get("BENCH_PYTHON", "python3.11")

PINS: dict[str, list[str]] = {
    "bentoml": ["bentoml==1.4.40"],
    # uvloop 0.21+ raises in asyncio.get_event_loop() without a running loop, which kills MLServer 1.7.1's
    # inference workers at start ("There is no current event loop"): 0.20 is the last that works.
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.20.0"],
    "profiler": ["py-spy==0.4.3"],
}
SHARED_WITH_SHIPYARD = ("scikit-learn", "numpy", "pandas", "joblib")  # pinned to .venv's versions
_INSTALL_TIMEOUT_S = 900


class PeerUnavailable(Exception):
    """A peer that cannot be installed or started; the bench shows its message in the peer's row."""


@dataclass(frozen=True)
class PeerVenv:
    name: str
    path: Path
    requirements: tuple[str, ...]

    def bin(self, program: str) -> Path:
        return self.path / "bin" / program


def requirements_for(name: str) -> tuple[str, ...]:
    """The peer's pins plus the model's libraries at exactly the versions installed next to Shipyard."""
    shared = [] if name == "profiler" else [f"{dist}=={metadata.version(dist)}" for dist in SHARED_WITH_SHIPYARD]
    return (*PINS[name], *shared)


def ensure_venv(name: str, log: Path | None = None) -> PeerVenv:
    """Create ``.bench-venvs/<name>`` and install its requirements, unless a matching install is already there.

    Raises:
        PeerUnavailable: venv creation or pip failed (the message ends with pip's last meaningful lines).
    """
    venv = PeerVenv(name, VENVS_DIR / name, requirements_for(name))
    stamp = venv.path / ".installed"
    digest = hashlib.sha256(json.dumps([PYTHON, *venv.requirements]).encode()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest and venv.bin("python").exists():
        return venv
    if shutil.which(PYTHON) is None:
        raise PeerUnavailable(f"{PYTHON} not found (set BENCH_PYTHON to a Python 3.10-3.12 interpreter)")
    log = log or VENVS_DIR / f"{name}-install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"  .. installing {name} into {venv.path}: {' '.join(venv.requirements)} (log: {log})", file=sys.stderr)
    if venv.path.exists():
        shutil.rmtree(venv.path)
    steps = [
        [PYTHON, "-m", "venv", str(venv.path)],
        [str(venv.bin("python")), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(venv.bin("python")), "-m", "pip", "install", "--quiet", *venv.requirements],
    ]
    with log.open("w") as out:
        for step in steps:
            try:
                done = subprocess.run(step, check=False, stdout=out, stderr=out, timeout=_INSTALL_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PeerUnavailable(f"{' '.join(step[:4])}: {exc}") from None
            if done.returncode != 0:
                raise PeerUnavailable(f"{' '.join(step[:5])} failed ({done.returncode}): {_last_lines(log)}")
    stamp.write_text(digest + "\n")
    return venv


def _last_lines(log: Path, count: int = 3) -> str:
    """pip's last lines that say something (pip repeats a warning per ignored index location)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    useful = [line for line in lines if line and "is ignored:" not in line]
    return " | ".join(useful[-count:]) or f"see {log}"


# BentoML 1.4 service: the joblib-dumped model, a DataFrame with the fitted column names (as MLflow and Shipyard
# build one from JSON), one worker, no access log (Shipyard logs none either). Batching is per launch.
BENTO_SERVICE = '''\
"""The serving bench's BentoML service (written by bench/serving_peers.py)."""

import os

import bentoml
import joblib
import numpy as np
import pandas as pd

BATCHING = os.environ["BENCH_BENTO_BATCHING"] == "1"
_batching = {"batchable": True, "max_batch_size": int(os.environ["BENCH_MAX_BATCH"]), "max_latency_ms": 10_000}


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Classifier:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL_JOBLIB"])
        self.columns = list(self.model.feature_names_in_)

    @bentoml.api(**(_batching if BATCHING else {}))
    def predict(self, input: np.ndarray) -> np.ndarray:
        return self.model.predict(pd.DataFrame(input, columns=self.columns))
'''


def bento_command(venv: PeerVenv, port: int) -> list[str]:
    """``bentoml serve`` for the service :func:`write_bento_service` wrote (run it from that folder)."""
    return [str(venv.bin("bentoml")), "serve", "service:Classifier", "--host", "127.0.0.1", "--port", str(port)]


def write_bento_service(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service.py").write_text(BENTO_SERVICE)


def bento_env(model_joblib: Path, home: Path, *, batching: bool, max_batch: int) -> dict[str, str]:
    return {
        "BENCH_MODEL_JOBLIB": str(model_joblib),
        "BENCH_BENTO_BATCHING": "1" if batching else "0",
        "BENCH_MAX_BATCH": str(max_batch),
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
    }


def write_mlserver_repo(
    folder: Path,
    model_joblib: Path,
    ports: tuple[int, int, int],
    *,
    batching: bool,
    max_batch: int,
    max_wait_ms: float,
) -> None:
    """An MLServer repository: settings.json (ports, no access log) and model/model-settings.json (sklearn).

    ``parallel_workers`` stays at MLServer's default (1: inference runs in one worker process).
    """
    http_port, grpc_port, metrics_port = ports
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "debug": False,  # True (the default) writes an access-log line per request
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "environments_dir": str(folder / ".envs"),
        "metrics_dir": str(folder / ".metrics"),
    }
    model_settings: dict[str, object] = {
        "name": "model",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model_joblib), "version": "1"},
    }
    if batching:
        model_settings |= {"max_batch_size": max_batch, "max_batch_time": max_wait_ms / 1000}
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    (folder / "model").mkdir(exist_ok=True)
    (folder / "model" / "model-settings.json").write_text(json.dumps(model_settings, indent=2))


def mlserver_command(venv: PeerVenv, folder: Path) -> list[str]:
    return [str(venv.bin("mlserver")), "start", str(folder)]


def pyspy_record(venv: PeerVenv, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start py-spy sampling ``pid`` and its children (without pausing them) for ``seconds``, collapsed stacks."""
    command = [str(venv.bin("py-spy")), "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
    command += ["--rate", "200", "--duration", str(max(1, round(seconds))), "--format", "raw", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_frames(raw: Path, *, match: tuple[str, ...], count: int = 15) -> list[tuple[float, float, str]]:
    """(inclusive %, self %, function) of the busiest functions whose file path contains one of ``match``.

    Percentages are of all non-idle samples (every thread), from py-spy's collapsed ``raw`` format.
    """
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        samples = int(number)
        total += samples
        frames = [frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") else frame for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + samples
        own[frames[-1]] = own.get(frames[-1], 0) + samples
    ranked = sorted((n, f) for f, n in inclusive.items() if any(m in f for m in match))[::-1][:count]
    return [(100 * n / total, 100 * own.get(f, 0) / total, f) for n, f in ranked] if total else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profiler", action="store_true", help="also install py-spy into .bench-venvs/profiler")
    args = parser.parse_args(argv)
    names = ["bentoml", "mlserver", *(["profiler"] if args.profiler else [])]
    failed = 0
    for name in names:
        try:
            venv = ensure_venv(name)
        except PeerUnavailable as exc:
            print(f"{name}: unavailable: {exc}")
            failed += 1
        else:
            print(f"{name}: {venv.path} ({' '.join(venv.requirements)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
