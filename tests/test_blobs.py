"""Blob stores: the local directory (modes, atomic writes, no path traversal) and S3 against moto's server."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.blobs import BlobMissing, BlobStore, LocalBlobStore, S3BlobStore, blob_store_from_settings, check_key
from app.config import load_settings

KEY = "documents/0f8e/a1b2c3"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def round_trip(store: BlobStore) -> None:
    await store.put(KEY, b"\x01sealed bytes")
    assert await store.get(KEY) == b"\x01sealed bytes"
    await store.put(KEY, b"\x01replaced")
    assert await store.get(KEY) == b"\x01replaced"
    await store.delete(KEY)
    with pytest.raises(BlobMissing):
        await store.get(KEY)
    await store.delete(KEY)  # idempotent
    with pytest.raises(BlobMissing):
        await store.get("documents/never/stored")


@pytest.mark.parametrize(
    "key", ["../escape", "/etc/passwd", "a/../../b", "a\\b", "", "a//b", "a/", ".hidden", "a/b\x00c", "ü"]
)
def test_keys_that_could_reach_a_path_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


async def test_the_local_store_round_trips_and_keeps_files_to_its_owner(tmp_path: Path) -> None:
    root = tmp_path / "var" / "blobs"
    store = LocalBlobStore(root)
    old_umask = os.umask(0o022)
    try:
        await store.put(KEY, b"\x01sealed bytes")
    finally:
        os.umask(old_umask)
    path = root / "documents" / "0f8e" / "a1b2c3"
    assert path.read_bytes() == b"\x01sealed bytes"
    assert mode(path) == 0o600
    assert {mode(d) for d in (root, root / "documents", root / "documents" / "0f8e")} == {0o700}
    assert sorted(p.name for p in path.parent.iterdir()) == ["a1b2c3"]  # no temporary file left behind
    await round_trip(store)
    await store.close()


@pytest.mark.parametrize("key", ["../outside", "documents/../../outside"])
async def test_the_local_store_never_writes_outside_its_directory(tmp_path: Path, key: str) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    for call in (store.put(key, b"x"), store.get(key), store.delete(key)):
        with pytest.raises(ValueError):
            await call
    assert not (tmp_path / "outside").exists()


def test_the_default_store_is_a_directory_under_the_data_dir(tmp_path: Path) -> None:
    store = blob_store_from_settings(load_settings({}, data_dir=str(tmp_path)))
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "blobs"
    store = blob_store_from_settings(load_settings({"MNV_BLOB_DIR": str(tmp_path / "elsewhere")}))
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "elsewhere"


# S3 ------------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server on a free loopback port, for this module."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
async def s3_store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BlobStore]:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"mnv-test-{os.urandom(4).hex()}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="ap-northeast-1")
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    settings = load_settings(
        {
            "MNV_BLOB_STORE": "s3",
            "MNV_S3_ENDPOINT_URL": s3_endpoint,
            "MNV_S3_BUCKET": bucket,
            "MNV_S3_REGION": "ap-northeast-1",
        }
    )
    store = blob_store_from_settings(settings)
    assert isinstance(store, S3BlobStore)
    yield store
    await store.close()
    client.close()


async def test_the_s3_store_round_trips_through_an_s3_compatible_server(s3_store: BlobStore) -> None:
    await round_trip(s3_store)


async def test_the_s3_store_keeps_binary_blobs_intact(s3_store: BlobStore) -> None:
    blob = os.urandom(300_000)
    await s3_store.put("documents/t/big", blob)
    assert await s3_store.get("documents/t/big") == blob


async def test_the_s3_store_refuses_malformed_keys(s3_store: BlobStore) -> None:
    with pytest.raises(ValueError):
        await s3_store.put("../x", b"x")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MNV_BLOB_STORE": "s3"}, "MNV_S3_BUCKET"),
        ({"MNV_BLOB_STORE": "ftp"}, "MNV_BLOB_STORE"),
        ({"MNV_BLOB_STORE": "s3", "MNV_S3_BUCKET": "Bad_Bucket"}, "MNV_S3_BUCKET"),
        ({"MNV_S3_ENDPOINT_URL": "minio:9000"}, "MNV_S3_ENDPOINT_URL"),
        ({"MNV_VERIFICATION_QUOTA_BYTES": "0"}, "MNV_VERIFICATION_QUOTA_BYTES"),
        ({"MNV_VERIFICATION_MAX_IMAGE_BYTES": "10MB"}, "MNV_VERIFICATION_MAX_IMAGE_BYTES"),
        # above the upload route's body limit (verification.controllers.MAX_BODY_BYTES is made for 10 MB images)
        ({"MNV_VERIFICATION_MAX_IMAGE_BYTES": str(10 * 1024**2 + 1)}, "MNV_VERIFICATION_MAX_IMAGE_BYTES"),
    ],
)
def test_blob_settings_are_parsed_strictly(environ: dict[str, str], named: str) -> None:
    from app.config import SettingsError

    with pytest.raises(SettingsError, match=named):
        load_settings(environ)


def test_blob_settings_have_defaults() -> None:
    settings = load_settings({})
    assert settings.blob_store == "local"
    assert settings.verification_quota_bytes == 1024**3
    assert settings.verification_max_image_bytes == 10 * 1024**2


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MNV_BLOB_DIR": "{static}/blobs"}, "MNV_BLOB_DIR"),
        ({"MNV_BLOB_DIR": "{static}"}, "MNV_BLOB_DIR"),
        ({"MNV_DATA_DIR": "{static}/var"}, "MNV_DATA_DIR"),  # the default blob directory, and the key file
    ],
)
def test_no_data_directory_may_be_under_the_static_files(environ: dict[str, str], named: str) -> None:
    """Anything under app/static is served to anyone at /static: sealed blobs (and the key file) must never be."""
    from app.config import SettingsError
    from app.main import STATIC_DIR

    with pytest.raises(SettingsError, match=named):
        load_settings({name: value.format(static=STATIC_DIR) for name, value in environ.items()})
    relative = os.path.relpath(STATIC_DIR / "x")  # the same place named relatively
    with pytest.raises(SettingsError, match="MNV_BLOB_DIR"):
        load_settings({"MNV_BLOB_DIR": relative})
