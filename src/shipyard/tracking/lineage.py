"""What a run was made from: code version, command, interpreter, platform and installed packages."""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["Lineage", "capture_lineage", "git_output"]

TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_GIT_DIRTY = "shipyard.lineage.git_dirty"
TAG_GIT_BRANCH = "mlflow.source.git.branch"
TAG_GIT_REPO = "mlflow.source.git.repoURL"
TAG_COMMAND = "shipyard.lineage.command"
TAG_PYTHON = "shipyard.lineage.python_version"
TAG_PLATFORM = "shipyard.lineage.platform"
TAG_PACKAGES_COUNT = "shipyard.lineage.packages_count"
PACKAGES_ARTIFACT = "shipyard/requirements.txt"


@dataclass(frozen=True)
class Lineage:
    """Facts about the code and environment a run started from."""

    git_commit: str | None
    git_dirty: bool | None
    git_branch: str | None
    entry_point: str
    command: str
    python_version: str
    platform: str
    packages: tuple[str, ...]

    def as_tags(self) -> dict[str, str]:
        """The run tags that record this lineage (MLflow's names where MLflow has one)."""
        out = {
            TAG_SOURCE_NAME: self.entry_point,
            TAG_SOURCE_TYPE: "LOCAL",
            TAG_COMMAND: self.command[:8000],
            TAG_PYTHON: self.python_version,
            TAG_PLATFORM: self.platform,
            TAG_PACKAGES_COUNT: str(len(self.packages)),
        }
        if self.git_commit:
            out[TAG_GIT_COMMIT] = self.git_commit
            out[TAG_GIT_DIRTY] = "true" if self.git_dirty else "false"
        if self.git_branch:
            out[TAG_GIT_BRANCH] = self.git_branch
        return out

    def requirements_text(self) -> str:
        """Installed packages as pinned requirement lines."""
        return "\n".join(self.packages) + "\n"


def git_output(args: list[str], cwd: Path, timeout_s: float = 5.0) -> str | None:
    """What ``git <args>`` prints in ``cwd``, stripped; None when git is missing, fails or is not a repo."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed git arguments
            ["git", *args],  # noqa: S607 - git from PATH, as the user runs it
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _installed_packages() -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.name
        if name:
            seen.setdefault(name.lower(), f"{name}=={dist.version}")
    return tuple(sorted(seen.values(), key=str.lower))


def capture_lineage(argv: list[str] | None = None, cwd: Path | None = None) -> Lineage:
    """Read git state, the command line, Python, the platform and installed packages.

    Never fails: facts that cannot be read (no git, no repository) are left empty.
    """
    argv = list(sys.argv if argv is None else argv)
    folder = cwd or Path.cwd()
    entry = argv[0] if argv and argv[0] else "<interactive>"
    entry_path = Path(entry)
    if entry_path.exists():
        entry = str(entry_path.resolve())
        folder = entry_path.resolve().parent
    commit = git_output(["rev-parse", "HEAD"], folder)
    dirty = None
    branch = None
    if commit:
        status = git_output(["status", "--porcelain", "--untracked-files=no"], folder)
        dirty = bool(status)
        branch = git_output(["rev-parse", "--abbrev-ref", "HEAD"], folder)
    return Lineage(
        git_commit=commit,
        git_dirty=dirty,
        git_branch=branch,
        entry_point=entry,
        command=" ".join([sys.executable, *argv]),
        python_version=platform.python_version(),
        platform=platform.platform(),
        packages=_installed_packages(),
    )
