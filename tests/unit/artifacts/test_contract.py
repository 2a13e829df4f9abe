"""The ArtifactStore contract: every backend must pass these (round trips, listing, deletion, atomicity)."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from shipyard.artifacts import ArtifactStore, FileInfo
from shipyard.errors import ArtifactPathError, InvalidParameter, ResourceNotFound
from tests.unit.artifacts.conftest import achunks

RUN = "1/abc123/artifacts"


class UploadDroppedError(Exception):
    """Raised by a chunk source to simulate a client that disconnects mid-upload."""


def _dropping_upload(first: bytes) -> Iterator[bytes]:
    yield first
    raise UploadDroppedError


async def _adropping_upload(first: bytes) -> AsyncIterator[bytes]:
    yield first
    raise UploadDroppedError


def _read(store: ArtifactStore, path: str) -> bytes:
    with store.open_read(path) as file:
        return file.read()


# Writing and reading back


def test_write_bytes_round_trips_through_open_read(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}/model/MLmodel", b"flavors: {}\n")

    assert b"flavors: {}\n" == _read(store, f"{RUN}/model/MLmodel")


def test_write_stream_returns_size_and_sha256(store: ArtifactStore) -> None:
    chunks = [b"hello ", b"", b"world"]

    actual = store.write_stream(f"{RUN}/greeting.txt", iter(chunks))

    assert (11, hashlib.sha256(b"hello world").hexdigest()) == actual


def test_write_stream_of_no_chunks_stores_an_empty_file(store: ArtifactStore) -> None:
    actual = store.write_stream(f"{RUN}/empty.txt", iter([]))

    assert ((0, hashlib.sha256(b"").hexdigest()), b"") == (actual, _read(store, f"{RUN}/empty.txt"))


def test_write_bytes_returns_size_and_sha256(store: ArtifactStore) -> None:
    assert (3, hashlib.sha256(b"abc").hexdigest()) == store.write_bytes("a.txt", b"abc")


def test_write_bytes_replaces_an_existing_file(store: ArtifactStore) -> None:
    store.write_bytes("a.txt", b"first version, longer")
    store.write_bytes("a.txt", b"second")

    assert b"second" == _read(store, "a.txt")


def test_write_normalises_the_path(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}//model/./MLmodel", b"x")

    assert b"x" == _read(store, f"{RUN}/model/MLmodel")


def test_awrite_stream_round_trips_and_returns_size_and_sha256(store: ArtifactStore) -> None:
    chunks = [b"a" * 100_000, b"b" * 3, b"c" * 2_000_000]

    actual = anyio.run(store.awrite_stream, f"{RUN}/body.bin", achunks(chunks))

    content = b"".join(chunks)
    assert ((len(content), hashlib.sha256(content).hexdigest()), content) == (actual, _read(store, f"{RUN}/body.bin"))


def test_big_streamed_file_round_trips_with_its_sha256(store: ArtifactStore) -> None:
    chunk_count, chunk_bytes = 20, 1 << 20
    expected_hash = hashlib.sha256()

    def upload() -> Iterator[bytes]:
        rng = random.Random(20)
        for _ in range(chunk_count):
            chunk = rng.randbytes(chunk_bytes)
            expected_hash.update(chunk)
            yield chunk

    size_bytes, sha256 = store.write_stream(f"{RUN}/big.bin", upload())
    read_hash = hashlib.sha256()
    for chunk in store.iter_read(f"{RUN}/big.bin"):
        read_hash.update(chunk)

    expected = (chunk_count * chunk_bytes, expected_hash.hexdigest(), expected_hash.hexdigest())
    assert expected == (size_bytes, sha256, read_hash.hexdigest())


def test_write_to_an_existing_directory_is_rejected(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}/model/MLmodel", b"x")

    with pytest.raises(ArtifactPathError):
        store.write_bytes(f"{RUN}/model", b"y")


def test_write_to_the_root_is_rejected(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactPathError):
        store.write_bytes("", b"y")


def test_write_below_an_existing_file_is_rejected(store: ArtifactStore) -> None:
    store.write_bytes("model", b"a file, not a folder")

    with pytest.raises(ArtifactPathError):
        store.write_bytes("model/MLmodel", b"y")


# Interrupted uploads


def test_interrupted_upload_leaves_nothing_at_the_target(store: ArtifactStore) -> None:
    with pytest.raises(UploadDroppedError):
        store.write_stream(f"{RUN}/model.pkl", _dropping_upload(b"partial" * 1000))

    assert (False, []) == (store.exists(f"{RUN}/model.pkl"), store.list_dir(RUN))


def test_interrupted_upload_keeps_the_previous_file(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}/model.pkl", b"complete old version")

    with pytest.raises(UploadDroppedError):
        store.write_stream(f"{RUN}/model.pkl", _dropping_upload(b"partial new version"))

    assert b"complete old version" == _read(store, f"{RUN}/model.pkl")


def test_interrupted_async_upload_leaves_nothing_at_the_target(store: ArtifactStore) -> None:
    with pytest.raises(UploadDroppedError):
        anyio.run(store.awrite_stream, f"{RUN}/model.pkl", _adropping_upload(b"partial" * 1000))

    assert (False, []) == (store.exists(f"{RUN}/model.pkl"), store.list_dir(RUN))


def test_cancelled_async_upload_leaves_nothing_at_the_target(store: ArtifactStore) -> None:
    async def stalled_upload() -> AsyncIterator[bytes]:
        yield b"partial" * 1000
        await anyio.sleep_forever()

    async def upload_then_cancel() -> None:
        with anyio.move_on_after(0.2):
            await store.awrite_stream(f"{RUN}/model.pkl", stalled_upload())

    anyio.run(upload_then_cancel)

    assert (False, []) == (store.exists(f"{RUN}/model.pkl"), store.list_dir(RUN))


# Concurrent writers


def test_last_completed_write_wins(store: ArtifactStore) -> None:
    first_chunk_written = threading.Event()
    may_finish = threading.Event()

    def slow_upload() -> Iterator[bytes]:
        yield b"slow " * 1000
        first_chunk_written.set()
        may_finish.wait(timeout=10)
        yield b"finished last"

    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(store.write_stream, "model.pkl", slow_upload())
        first_chunk_written.wait(timeout=10)
        store.write_bytes("model.pkl", b"fast, finished first")
        may_finish.set()
        slow.result(timeout=10)

    assert b"slow " * 1000 + b"finished last" == _read(store, "model.pkl")


def test_a_write_in_progress_is_invisible_to_readers(store: ArtifactStore) -> None:
    store.write_bytes("model.pkl", b"old")
    seen_mid_write: list[bytes] = []

    def upload() -> Iterator[bytes]:
        yield b"new " * 1000
        seen_mid_write.append(_read(store, "model.pkl"))
        yield b"end"

    store.write_stream("model.pkl", upload())

    assert [b"old"] == seen_mid_write


def test_concurrent_writers_never_leave_a_torn_file(store: ArtifactStore) -> None:
    writers, rounds, chunk_bytes, chunks_per_file = 6, 4, 64 * 1024, 8
    payloads = {bytes([value]) * chunk_bytes * chunks_per_file for value in range(writers)}
    torn: list[int] = []
    stop = threading.Event()

    def write(value: int) -> None:
        for _ in range(rounds):
            store.write_stream("model.pkl", (bytes([value]) * chunk_bytes for _ in range(chunks_per_file)))

    def read_until_stopped() -> None:
        while not stop.is_set():
            try:
                content = _read(store, "model.pkl")
            except ResourceNotFound:
                continue
            if content not in payloads:
                torn.append(len(content))

    with ThreadPoolExecutor(max_workers=writers + 1) as pool:
        reader = pool.submit(read_until_stopped)
        for future in [pool.submit(write, value) for value in range(writers)]:
            future.result(timeout=60)
        stop.set()
        reader.result(timeout=60)

    assert ([], True, ["model.pkl"]) == (
        torn,
        _read(store, "model.pkl") in payloads,
        [info.path for info in store.list_dir("")],
    )


# Reading


def test_open_read_of_a_missing_file_raises_not_found(store: ArtifactStore) -> None:
    with pytest.raises(ResourceNotFound):
        store.open_read(f"{RUN}/missing.txt")


def test_open_read_of_a_directory_raises_not_found(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}/model/MLmodel", b"x")

    with pytest.raises(ResourceNotFound):
        store.open_read(f"{RUN}/model")


def test_not_found_error_is_a_404_resource_does_not_exist(store: ArtifactStore) -> None:
    with pytest.raises(ResourceNotFound) as caught:
        store.open_read("missing.txt")

    assert ("RESOURCE_DOES_NOT_EXIST", 404) == (caught.value.error_code, caught.value.http_status)


def test_iter_read_yields_chunks_of_chunk_size(store: ArtifactStore) -> None:
    store.write_bytes("digits.txt", b"0123456789")

    assert [b"0123", b"4567", b"89"] == list(store.iter_read("digits.txt", chunk_size=4))


def test_iter_read_of_an_empty_file_yields_nothing(store: ArtifactStore) -> None:
    store.write_bytes("empty.txt", b"")

    assert [] == list(store.iter_read("empty.txt"))


def test_iter_read_of_a_missing_file_raises_when_called(store: ArtifactStore) -> None:
    with pytest.raises(ResourceNotFound):
        store.iter_read("missing.txt")


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_iter_read_rejects_a_chunk_size_below_one(store: ArtifactStore, chunk_size: int) -> None:
    store.write_bytes("a.txt", b"x")

    with pytest.raises(InvalidParameter):
        store.iter_read("a.txt", chunk_size=chunk_size)


def test_size_is_the_file_size_in_bytes(store: ArtifactStore) -> None:
    store.write_bytes("a.bin", b"x" * 1234)

    assert 1234 == store.size("a.bin")


def test_size_of_a_missing_file_raises_not_found(store: ArtifactStore) -> None:
    with pytest.raises(ResourceNotFound):
        store.size("missing.bin")


def test_size_of_a_directory_raises_not_found(store: ArtifactStore) -> None:
    store.write_bytes("model/MLmodel", b"x")

    with pytest.raises(ResourceNotFound):
        store.size("model")


@pytest.mark.parametrize(("path", "expected"), [("model/MLmodel", True), ("model", True), ("", True), ("nope", False)])
def test_exists_reports_files_and_directories(store: ArtifactStore, path: str, expected: bool) -> None:
    store.write_bytes("model/MLmodel", b"x")

    assert expected == store.exists(path)


# Listing


def test_list_dir_returns_direct_children_with_paths_from_the_root(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}/model/MLmodel", b"flavors: {}")
    store.write_bytes(f"{RUN}/model/model.pkl", b"pickle")
    store.write_bytes(f"{RUN}/metrics.json", b"{}")

    expected = [FileInfo(f"{RUN}/metrics.json", False, 2), FileInfo(f"{RUN}/model", True, None)]
    assert expected == store.list_dir(RUN)


def test_list_dir_of_the_root(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}/metrics.json", b"{}")
    store.write_bytes("top.txt", b"abc")

    assert [FileInfo("1", True, None), FileInfo("top.txt", False, 3)] == store.list_dir("")


def test_list_dir_sorts_by_name(store: ArtifactStore) -> None:
    for name in ["b.txt", "c", "a.txt"]:
        store.write_bytes(f"d/{name}", b"")

    assert ["d/a.txt", "d/b.txt", "d/c"] == [info.path for info in store.list_dir("d")]


def test_list_dir_normalises_the_path(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}/metrics.json", b"{}")

    assert [FileInfo(f"{RUN}/metrics.json", False, 2)] == store.list_dir("1//abc123/./artifacts/")


def test_list_dir_of_a_missing_directory_is_empty(store: ArtifactStore) -> None:
    assert [] == store.list_dir("no/such/dir")


def test_list_dir_of_an_emptied_directory_is_empty(store: ArtifactStore) -> None:
    store.write_bytes("d/only.txt", b"x")
    store.delete("d/only.txt")

    assert [] == store.list_dir("d")


def test_list_dir_of_a_file_is_empty(store: ArtifactStore) -> None:
    store.write_bytes("d/file.txt", b"x")

    assert [] == store.list_dir("d/file.txt")


# Deleting


def test_delete_removes_a_file(store: ArtifactStore) -> None:
    store.write_bytes("d/a.txt", b"x")
    store.write_bytes("d/b.txt", b"y")

    store.delete("d/a.txt")

    assert ["d/b.txt"] == [info.path for info in store.list_dir("d")]


def test_delete_removes_a_directory_tree(store: ArtifactStore) -> None:
    store.write_bytes(f"{RUN}/model/MLmodel", b"x")
    store.write_bytes(f"{RUN}/model/data/weights.bin", b"y")
    store.write_bytes(f"{RUN}/metrics.json", b"{}")

    store.delete(f"{RUN}/model")

    assert (False, [f"{RUN}/metrics.json"]) == (
        store.exists(f"{RUN}/model/data/weights.bin"),
        [info.path for info in store.list_dir(RUN)],
    )


def test_delete_of_a_missing_path_does_nothing(store: ArtifactStore) -> None:
    store.delete("no/such/file.txt")

    assert [] == store.list_dir("")


@pytest.mark.parametrize("path", ["", ".", "./"])
def test_delete_of_the_root_is_rejected(store: ArtifactStore, path: str) -> None:
    store.write_bytes("keep.txt", b"x")

    with pytest.raises(ArtifactPathError):
        store.delete(path)
