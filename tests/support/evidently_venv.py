"""A virtualenv with the real Evidently (which needs pandas < 3) for agreement tests: made once, reused, locked.

``.bench-venvs/evidently`` holds ``evidently==0.7.23`` and ``pandas==2.3.3``, plus numpy, scipy and pyarrow at the
versions installed in the running interpreter, so both sides compute with the same numerical libraries.

    .venv/bin/python tests/support/evidently_venv.py    # create (or check) it ahead of a test run
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = REPO_ROOT / ".bench-venvs" / "evidently"
PINNED = ("evidently==0.7.23", "pandas==2.3.3")
SHARED_WITH_SHIPYARD = ("numpy", "scipy", "pyarrow")  # pinned to the running interpreter's versions


class EvidentlyUnavailable(RuntimeError):
    """The Evidently virtualenv could not be created (no network, no wheel...); the message says why."""


def requirements() -> list[str]:
    """Evidently's pins plus numpy, scipy and pyarrow at this interpreter's versions."""
    return [*PINNED, *(f"{name}=={metadata.version(name)}" for name in SHARED_WITH_SHIPYARD)]


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _last_lines(text: str, count: int = 6) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "Retrying" not in line]
    return "\n".join(lines[-count:])


def evidently_python(venv: Path = VENV_DIR) -> Path:
    """The virtualenv's python, creating the virtualenv first unless a matching one exists.

    Safe to call from several pytest-xdist workers at once: creation happens under an exclusive file lock and
    the others wait, then reuse it.

    Raises:
        EvidentlyUnavailable: venv creation or pip failed (the message ends with pip's last lines).
    """
    wanted = requirements()
    digest = hashlib.sha256(json.dumps([sys.version_info[:2], *wanted]).encode()).hexdigest()
    stamp = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f".{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if stamp.exists() and stamp.read_text().strip() == digest and _python(venv).exists():
                return _python(venv)
            if venv.exists():
                shutil.rmtree(venv)
            steps = [
                [sys.executable, "-m", "venv", str(venv)],
                [str(_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wanted],
            ]
            for step in steps:
                done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
                if done.returncode != 0:
                    shutil.rmtree(venv, ignore_errors=True)
                    raise EvidentlyUnavailable(
                        f"{' '.join(step[:4])}... failed ({done.returncode}):\n{_last_lines(done.stderr)}"
                    )
            stamp.write_text(digest + "\n")
            return _python(venv)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


if __name__ == "__main__":
    print(evidently_python())
