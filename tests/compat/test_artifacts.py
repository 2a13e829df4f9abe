"""Artifacts: upload, listing and download through the mlflow-artifacts proxy, via the mlflow client."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mlflow import MlflowClient

BIG_FILE_BYTES = 50 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small directory with nested subdirectories to upload with log_artifacts."""
    root = tmp_path / "tree"
    files = {
        "README.md": b"# results\n",
        "data/train.csv": b"x,y\n1,2\n",
        "data/deep/nested/weights.bin": bytes(range(256)),
    }
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    return root


def test_run_artifact_uri_uses_mlflow_artifacts_scheme(experiment_id: str) -> None:
    with mlflow.start_run() as run:
        pass

    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")


def test_log_artifact_file_is_listed_with_size(client: MlflowClient, experiment_id: str, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"hello artifacts\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source))

    listed = client.list_artifacts(run.info.run_id)

    assert [("notes.txt", False, 16)] == [(f.path, f.is_dir, f.file_size) for f in listed]


def test_log_artifact_under_artifact_path_is_listed_in_that_folder(
    client: MlflowClient, experiment_id: str, tmp_path: Path
) -> None:
    source = tmp_path / "config.json"
    source.write_text('{"a": 1}')
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source), artifact_path="configs/v1")

    listed = client.list_artifacts(run.info.run_id, "configs/v1")

    assert [("configs/v1/config.json", False, 8)] == [(f.path, f.is_dir, f.file_size) for f in listed]


def test_log_artifact_file_downloads_with_same_bytes(experiment_id: str, tmp_path: Path) -> None:
    source = tmp_path / "blob.bin"
    source.write_bytes(os.urandom(4096))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source))

    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="blob.bin", dst_path=str(tmp_path / "dl")
    )

    assert source.read_bytes() == Path(local).read_bytes()


def test_list_artifacts_of_root_shows_folders_as_dirs(client: MlflowClient, experiment_id: str, tree: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tree))

    listed = client.list_artifacts(run.info.run_id)

    assert [("README.md", False, 10), ("data", True, None)] == sorted((f.path, f.is_dir, f.file_size) for f in listed)


def test_list_artifacts_of_subfolder_shows_its_children(client: MlflowClient, experiment_id: str, tree: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tree))

    listed = client.list_artifacts(run.info.run_id, "data")

    assert [("data/deep", True, None), ("data/train.csv", False, 8)] == sorted(
        (f.path, f.is_dir, f.file_size) for f in listed
    )


def test_list_artifacts_of_run_without_artifacts_is_empty(client: MlflowClient, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        pass

    assert [] == client.list_artifacts(run.info.run_id)


def test_log_artifacts_directory_downloads_as_same_tree(experiment_id: str, tree: Path, tmp_path: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tree), artifact_path="bundle")

    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="bundle", dst_path=str(tmp_path / "dl")
    )

    assert _files_under(tree) == _files_under(Path(local))


def test_download_artifacts_of_subfolder_returns_only_that_folder(
    experiment_id: str, tree: Path, tmp_path: Path
) -> None:
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tree))

    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="data/deep", dst_path=str(tmp_path / "dl")
    )

    assert {"nested/weights.bin": bytes(range(256))} == _files_under(Path(local))


def test_download_artifacts_of_whole_run_returns_every_file(experiment_id: str, tree: Path, tmp_path: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tree))

    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "dl"))

    assert _files_under(tree) == _files_under(Path(local))


def test_50_mb_artifact_round_trips_with_same_sha256(experiment_id: str, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as handle:
        for _ in range(BIG_FILE_BYTES // _CHUNK_BYTES):
            handle.write(os.urandom(_CHUNK_BYTES))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source), artifact_path="large")

    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="large/big.bin", dst_path=str(tmp_path / "dl")
        )
    )

    assert (BIG_FILE_BYTES, _sha256(source)) == (local.stat().st_size, _sha256(local))


def test_log_text_reads_back_with_load_text(experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("line one\nline two ✓\n", "logs/out.txt")

    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/logs/out.txt")

    assert "line one\nline two ✓\n" == text


def test_log_dict_json_reads_back_with_load_dict(experiment_id: str) -> None:
    payload = {"lr": 0.1, "layers": [64, 32], "name": "mlp", "nested": {"ok": True}}
    with mlflow.start_run() as run:
        mlflow.log_dict(payload, "config.json")

    assert payload == mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/config.json")


def test_log_dict_yaml_is_stored_as_yaml(experiment_id: str, tmp_path: Path) -> None:
    payload = {"lr": 0.1, "layers": [64, 32], "name": "mlp"}
    with mlflow.start_run() as run:
        mlflow.log_dict(payload, "config.yaml")

    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="config.yaml", dst_path=str(tmp_path / "dl")
    )

    assert payload == yaml.safe_load(Path(local).read_text())


def test_log_dict_json_is_stored_as_json(experiment_id: str, tmp_path: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_dict({"k": [1, 2]}, "meta/data.json")

    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="meta/data.json", dst_path=str(tmp_path / "dl")
    )

    assert {"k": [1, 2]} == json.loads(Path(local).read_text())


def test_log_figure_stores_a_png(experiment_id: str, tmp_path: Path) -> None:
    # A bare Figure on the Agg canvas: no display and no global pyplot state.
    figure = Figure()
    FigureCanvasAgg(figure)
    figure.subplots().plot([0, 1, 2], [2, 1, 3])
    with mlflow.start_run() as run:
        mlflow.log_figure(figure, "plots/curve.png")

    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="plots/curve.png", dst_path=str(tmp_path / "dl")
    )

    assert PNG_MAGIC == Path(local).read_bytes()[:8]


def test_log_image_reads_back_with_same_size(experiment_id: str) -> None:
    pixels = np.zeros((12, 20, 3), dtype=np.uint8)
    pixels[:, :10] = 255
    with mlflow.start_run() as run:
        mlflow.log_image(pixels, artifact_file="images/half.png")

    image = mlflow.artifacts.load_image(f"runs:/{run.info.run_id}/images/half.png")

    assert ((20, 12), (255, 255, 255), (0, 0, 0)) == (image.size, image.getpixel((0, 0)), image.getpixel((19, 11)))


def test_download_missing_artifact_raises_resource_does_not_exist(experiment_id: str, tmp_path: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("x", "present.txt")

    with pytest.raises(mlflow.MlflowException) as excinfo:
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="absent.txt", dst_path=str(tmp_path / "dl")
        )

    assert "RESOURCE_DOES_NOT_EXIST" == excinfo.value.error_code
