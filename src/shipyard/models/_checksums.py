"""SHA256SUMS: the digest of every file in a model folder, in the ``sha256sum`` tool's format."""

from __future__ import annotations

import hashlib
from pathlib import Path

from shipyard.errors import ModelIntegrityError

__all__ = ["SUMS_FILE", "digest_folder", "verify_model_files", "write_sums"]

SUMS_FILE = "SHA256SUMS"
_CHUNK_BYTES = 1 << 20


def digest_folder(folder: Path) -> dict[str, str]:
    """Relative posix path -> sha256 hex digest for every file under ``folder`` except SHA256SUMS, sorted."""
    digests = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        if rel != SUMS_FILE:
            digests[rel] = _sha256(file)
    return digests


def write_sums(folder: Path) -> dict[str, str]:
    """Write SHA256SUMS for ``folder`` and return the digests it lists."""
    digests = digest_folder(folder)
    lines = "".join(f"{digest}  {rel}\n" for rel, digest in digests.items())
    (folder / SUMS_FILE).write_text(lines, encoding="utf-8")
    return digests


def verify_model_files(path: str | Path) -> None:
    """Check a model folder against its SHA256SUMS.

    Every listed file must exist with the listed digest, and no other file may have been added.
    A folder without SHA256SUMS (saved by MLflow) passes: there is nothing to check against.

    Args:
        path: the model folder.

    Raises:
        ModelIntegrityError: naming each changed, missing and added file.
    """
    folder = Path(path)
    sums = folder / SUMS_FILE
    if not sums.is_file():
        return
    expected = _parse(sums)
    actual = digest_folder(folder)
    problems = [f"changed: {rel}" for rel, d in expected.items() if rel in actual and actual[rel] != d]
    problems += [f"missing: {rel}" for rel in expected if rel not in actual]
    problems += [f"added: {rel}" for rel in actual if rel not in expected]
    if problems:
        raise ModelIntegrityError(
            f"Model files at {folder} do not match {SUMS_FILE} ({len(problems)} problems): " + "; ".join(problems)
        )


def _parse(sums: Path) -> dict[str, str]:
    expected = {}
    for number, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel:
            raise ModelIntegrityError(f"{sums} line {number} is not '<sha256>  <path>': {line!r}")
        expected[rel] = digest.lower()
    return expected


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
