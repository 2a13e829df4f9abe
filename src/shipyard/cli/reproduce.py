"""``shipyard runs reproduce``: show how a run was made, and with --exec make it again in a fresh environment."""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli._common import TrackingUri, backend_for, console, handle_errors
from shipyard.errors import InvalidState, ResourceNotFound, ShipyardError
from shipyard.tracking.entities import Run
from shipyard.tracking.lineage import (
    PACKAGES_ARTIFACT,
    TAG_COMMAND,
    TAG_GIT_BRANCH,
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_GIT_REPO,
    TAG_PLATFORM,
    TAG_PYTHON,
    TAG_SOURCE_NAME,
    git_output,
)

__all__ = ["reproduce"]

_STEPS = 4


def _step(number: int, text: str) -> None:
    console.print(f"[bold cyan][{number}/{_STEPS}][/bold cyan] {text}", highlight=False)


def _stream(argv: list[str], cwd: Path | None = None) -> int:
    """Run a command, echoing its output line by line as it comes; return its exit status."""
    try:
        process = subprocess.Popen(  # noqa: S603 - the user asked to run what the run recorded
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
    except OSError as exc:
        raise ShipyardError(f"Cannot start {argv[0]!r}: {exc.strerror or exc}.") from None
    with process:
        assert process.stdout is not None
        for line in process.stdout:
            typer.echo(line, nl=False)
    return process.returncode


def _check(argv: list[str], what: str, cwd: Path | None = None) -> None:
    status = _stream(argv, cwd)
    if status != 0:
        raise ShipyardError(f"{what} failed (exit status {status}): {' '.join(argv)}")


def _local_repo(run: Run) -> str | None:
    """A repository holding the run's commit that we can clone from here: the recorded URL, or the entry's repo."""
    commit = run.tags[TAG_GIT_COMMIT]
    candidates: list[str] = []
    entry = Path(run.tags.get(TAG_SOURCE_NAME, ""))
    if entry.is_absolute() and entry.parent.is_dir():
        top = git_output(["rev-parse", "--show-toplevel"], entry.parent, 30)
        if top:
            candidates.append(top)
    if run.tags.get(TAG_GIT_REPO):
        candidates.append(run.tags[TAG_GIT_REPO])
    for repo in candidates:
        if Path(repo).is_dir() and git_output(["cat-file", "-e", f"{commit}^{{commit}}"], Path(repo), 30) is not None:
            return repo
        if not Path(repo).is_dir():
            return repo  # a URL: git clone will say whether it is reachable
    return None


def _print_run(run: Run, requirements: str | None) -> None:
    tags = run.tags
    recorded_python = tags.get(TAG_PYTHON, "")
    python = recorded_python or "not recorded"
    if recorded_python and recorded_python.rsplit(".", 1)[0] != platform.python_version().rsplit(".", 1)[0]:
        python += f" (this machine has {platform.python_version()})"
    dirty = {"true": "yes: uncommitted changes were not recorded", "false": "no"}.get(tags.get(TAG_GIT_DIRTY, ""), "")
    table = Table("field", "value", title=f"How run {run.run_id} was made", show_header=False)
    for field, value in [
        ("command", tags.get(TAG_COMMAND, "not recorded")),
        ("entry point", tags.get(TAG_SOURCE_NAME, "not recorded")),
        ("git repository", tags.get(TAG_GIT_REPO, "")),
        ("git commit", tags.get(TAG_GIT_COMMIT, "not recorded")),
        ("git branch", tags.get(TAG_GIT_BRANCH, "")),
        ("dirty tree", dirty),
        ("python", python),
        ("platform", tags.get(TAG_PLATFORM, "")),
    ]:
        table.add_row(field, value)
    console.print(table)
    if requirements is None:
        typer.echo(f"No pinned environment: the run has no {PACKAGES_ARTIFACT} artifact.")
        return
    pins = [line for line in requirements.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    typer.echo(f"Pinned environment ({len(pins)} packages, from {PACKAGES_ARTIFACT}):")
    for line in pins:
        typer.echo(f"  {line}")


def _command_argv(command: str, python: Path, repo_root: str | None, checkout: Path | None) -> list[str]:
    """The recorded command for the new environment: its interpreter and paths into the fresh checkout."""
    # The command was recorded as argv joined by spaces, so splitting on whitespace restores it.
    argv = command.split()
    if argv and Path(argv[0]).name.startswith("python"):
        argv[0] = str(python)
    if repo_root and checkout is not None:
        argv = [str(checkout) + arg[len(repo_root) :] if arg.startswith(repo_root + "/") else arg for arg in argv]
    return argv


def _execute(run: Run, requirements: Path | None, workdir: Path, *, allow_dirty: bool) -> int:
    tags = run.tags
    command = tags.get(TAG_COMMAND)
    if not command:
        raise InvalidState(f"Run {run.run_id} recorded no command ({TAG_COMMAND}); there is nothing to run.")
    commit = tags.get(TAG_GIT_COMMIT)
    if commit and tags.get(TAG_GIT_DIRTY) == "true" and not allow_dirty:
        raise InvalidState(
            f"Run {run.run_id} was made from a working tree with uncommitted changes, which were not recorded; "
            f"commit {commit[:12]} alone may not reproduce it. Pass --allow-dirty to run at that commit anyway."
        )
    repo = _local_repo(run) if commit else None
    if commit and repo is None:
        raise InvalidState(
            f"Commit {commit[:12]} was recorded but no repository holding it is reachable from here; "
            "run this command from a clone of the project."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    venv = workdir / "venv"
    _step(1, f"Creating a virtualenv in {venv}")
    _check([sys.executable, "-m", "venv", str(venv)], "Creating the virtualenv")
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    pins = requirements.read_text(encoding="utf-8").split() if requirements else []
    if requirements is None or not pins:
        _step(2, "No pinned packages to install")
    else:
        _step(2, f"Installing the pinned packages from {requirements}")
        _check([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(requirements)], "pip")
    checkout: Path | None = None
    repo_root: str | None = None
    if commit and repo:
        checkout = workdir / "src"
        _step(3, f"Checking out {commit[:12]} from {repo} into {checkout}")
        _check(["git", "clone", "--quiet", "--no-checkout", repo, str(checkout)], "git clone")
        _check(["git", "-C", str(checkout), "checkout", "--quiet", "--detach", commit], "git checkout")
        if Path(repo).is_dir():
            repo_root = str(Path(repo).resolve())
    else:
        _step(3, f"No git commit recorded: running in the current folder {Path.cwd()}")
    argv = _command_argv(command, python, repo_root, checkout)
    _step(4, f"Running {' '.join(argv)}")
    return _stream(argv, checkout)


def reproduce(
    run_id: str,
    execute: Annotated[
        bool, typer.Option("--exec", help="Recreate the environment and run the command again.")
    ] = False,
    dst: Annotated[
        Path | None, typer.Option("--dst", help="Folder for the environment and checkout (a new temporary one).")
    ] = None,
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="Run at the commit even though the tree had uncommitted changes.")
    ] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Show how a run was made (command, code, Python, pinned packages); with --exec, make it again."""
    with tempfile.TemporaryDirectory(prefix="shipyard-requirements-") as tmp:
        with backend_for(tracking_uri) as backend:
            run = backend.get_run(run_id)
            try:
                requirements: Path | None = backend.download_artifact(run, PACKAGES_ARTIFACT, Path(tmp))
            except ResourceNotFound:
                requirements = None
        text = requirements.read_text(encoding="utf-8") if requirements else None
        _print_run(run, text)
        if not execute:
            if dst is not None and text is not None:
                dst.mkdir(parents=True, exist_ok=True)
                (dst / "requirements.txt").write_text(text, encoding="utf-8")
                typer.echo(f"Wrote the pinned environment to {dst / 'requirements.txt'}.")
            return
        workdir = dst or Path(tempfile.mkdtemp(prefix="shipyard-reproduce-"))
        with handle_errors():
            status = _execute(run, requirements, workdir, allow_dirty=allow_dirty)
    typer.echo(f"The command exited with status {status}; environment and checkout are in {workdir}.")
    if status != 0:
        raise typer.Exit(status)
