"""Blob stores (issue 12): opaque bytes under opaque keys, on local disk or in an S3-compatible bucket.

A blob store never sees a clear image: callers hand it bytes already sealed by the vault (``app.documents``). It
has no public URL; images reach a browser only through an authorised route that opens them on the fly.

- :class:`LocalBlobStore` (default, ``MNV_BLOB_STORE=local``): a directory under the data directory
  (``<data dir>/blobs``, or ``MNV_BLOB_DIR``), never under a static path; directories 0700, files 0600, each
  written to a temporary file in the same directory, flushed and renamed into place (a reader sees the whole blob
  or none).
- :class:`S3BlobStore` (``MNV_BLOB_STORE=s3``): a bucket (``MNV_S3_BUCKET``) on AWS or any S3-compatible service
  (``MNV_S3_ENDPOINT_URL``, ``MNV_S3_REGION``); credentials from the standard AWS chain (``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, instance roles). boto3 is synchronous: its calls run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import Any, Final, Protocol

from app.config import Settings

# Keys are ids, never names from users: segments of letters, digits, '_' and '-', joined by '/'. Nothing else can
# reach a path ('..', absolute paths, backslashes, NUL are all refused).
_KEY: Final = re.compile(r"[A-Za-z0-9_-]{1,100}(?:/[A-Za-z0-9_-]{1,100}){0,4}")
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


class BlobMissing(Exception):
    """No blob is stored under the key (never stored, deleted, or lost)."""


class BlobStoreUnavailable(Exception):
    """The store could not write (a full disk, a directory that is not writable, the object store down): the
    request that needed it fails with a 503 page (``app.http``) and its transaction rolls back."""


class BlobStore(Protocol):
    """Where sealed blobs live. Every method may raise OSError / the backend's errors when the store is down."""

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there (ValueError for a malformed key)."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; BlobMissing when there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob under ``key``; nothing happens when there is none (idempotent)."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...


def check_key(key: str) -> str:
    """``key`` when it is a well-formed blob key (id segments joined by '/'); ValueError otherwise."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"malformed blob key {key!r}")
    return key


class LocalBlobStore:
    """Blobs as files under ``root`` (created 0700; files 0600, written atomically)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    async def put(self, key: str, data: bytes) -> None:
        """Write ``data`` to a temporary file beside the target, flush it to disk and rename it into place."""
        path = self._path(key)
        try:
            await asyncio.to_thread(_write_atomically, self.root, path, bytes(data))
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot write blob {key}: {exc.strerror or type(exc).__name__}") from None

    async def get(self, key: str) -> bytes:
        """Read the blob; BlobMissing when its file does not exist."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobMissing(key) from None

    async def delete(self, key: str) -> None:
        """Remove the blob's file (idempotent)."""
        path = self._path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def close(self) -> None:
        """Nothing to release."""


def _make_dirs(root: Path, directory: Path) -> None:
    """Create ``root`` and the directories down to ``directory`` with mode 0700, whatever the umask."""
    paths = [root]
    for part in directory.relative_to(root).parts:
        paths.append(paths[-1] / part)
    for path in paths:
        try:
            path.mkdir(mode=DIR_MODE, parents=path is root)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)


def _write_atomically(root: Path, path: Path, data: bytes) -> None:
    _make_dirs(root, path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself made durable (POSIX)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class S3BlobStore:
    """Blobs as objects of one bucket on S3 or an S3-compatible service (MinIO, Ceph, Wasabi, moto...)."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        config = Config(
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=10,
        )
        self._client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config
        )

    async def put(self, key: str, data: bytes) -> None:
        """PUT the object (its bytes are sealed already; no ACL makes it public: the bucket's policy decides)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            await asyncio.to_thread(
                self._client.put_object,
                Bucket=self.bucket,
                Key=check_key(key),
                Body=bytes(data),
                ContentType="application/octet-stream",
            )
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreUnavailable(f"cannot write blob {key}: {type(exc).__name__}") from None

    async def get(self, key: str) -> bytes:
        """GET the object; BlobMissing for a missing key."""
        return await asyncio.to_thread(self._get, check_key(key))

    def _get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            raise BlobMissing(key) from None
        body = response["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        """DELETE the object (S3 answers the same whether or not it existed)."""
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=check_key(key))

    async def close(self) -> None:
        """Close the client's connection pool."""
        await asyncio.to_thread(self._client.close)


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """The store ``MNV_BLOB_STORE`` names: the local directory (``effective_blob_dir``) or the S3 bucket."""
    if settings.blob_store == "s3":
        return S3BlobStore(
            settings.s3_bucket, endpoint_url=settings.s3_endpoint_url or None, region=settings.s3_region or None
        )
    return LocalBlobStore(settings.effective_blob_dir)


APP_BLOB_STATE_KEY: Final = "blob_store"


def app_blob_store(state: Any, settings: Settings) -> BlobStore:
    """The application's blob store (made on first use from ``settings``, then kept on the app's ``state``) for
    the controllers of any package (the file exchange; verification keeps its own under its key)."""
    store: BlobStore | None = state.get(APP_BLOB_STATE_KEY)
    if store is None:
        store = state[APP_BLOB_STATE_KEY] = blob_store_from_settings(settings)
    return store
