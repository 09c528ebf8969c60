"""Master keys (KEK): the provider interface and the local key file / ``MNV_MASTER_KEY`` provider.

The KEK only wraps tenant keys. A KMS or Vault-transit provider implements :class:`KeyProvider` and nothing else
changes. The local key file is JSON ``{"current": n, "keys": {"1": "<base64>", ...}}`` with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from app.config import Settings
from app.logs import get_logger
from app.vault import crypto
from app.vault.errors import MasterKeyError, VaultIntegrityError

__all__ = [
    "KeyProvider",
    "LocalKeyProvider",
    "MasterKeyError",
    "RotatableKeyProvider",
    "VaultIntegrityError",
    "WrappedKey",
    "create_key_file",
]

log = get_logger("vault.keys")


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A key encrypted under KEK ``version``; ``ciphertext`` is opaque to callers."""

    version: int
    ciphertext: bytes


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps tenant keys under the master key; ``context`` is bound as associated data.

    ``derive_secret`` gives stable per-purpose secrets (e.g. CSRF) without exposing the key itself.
    """

    def current_version(self) -> int: ...

    def wrap(self, key: bytes, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes: ...

    def derive_secret(self, purpose: str) -> bytes: ...


@runtime_checkable
class RotatableKeyProvider(KeyProvider, Protocol):
    """A provider whose versions the operator manages (``mnvault keys rotate``)."""

    def versions(self) -> list[int]: ...

    def add_version(self) -> int: ...

    def retire_old_versions(self) -> list[int]: ...


def _encode(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _decode_key(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == crypto.KEY_BYTES else None


def _write_key_file(path: Path, current: int, keys: dict[int, bytes], *, exclusive: bool = False) -> None:
    """Write atomically with mode 0600 (a crash leaves either the old or the new file, never half of one)."""
    body = json.dumps({"current": current, "keys": {str(v): _encode(k) for v, k in sorted(keys.items())}}, indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return
    fd, temp = tempfile.mkstemp(prefix=".master.key.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def create_key_file(path: Path | str) -> Path:
    """Create a new key file with one random version (mode 0600); refuse to overwrite an existing one."""
    path = Path(path)
    try:
        _write_key_file(path, 1, {1: crypto.new_key()}, exclusive=True)
    except FileExistsError:
        raise MasterKeyError(f"鍵ファイル {path} はすでにあります（master key file already exists）") from None
    return path


def _parse_key_file(path: Path, raw: str) -> tuple[int, dict[int, bytes]]:
    def malformed(why: str) -> MasterKeyError:
        return MasterKeyError(f"鍵ファイル {path} の形式が正しくありません: {why}（malformed master key file）")

    try:
        data = json.loads(raw)
    except ValueError:
        raise malformed("JSON として読めません") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict) or not data["keys"]:
        raise malformed('"current" と "keys" が必要です')
    keys: dict[int, bytes] = {}
    for name, value in data["keys"].items():
        key = _decode_key(value)
        if not str(name).isdigit() or key is None:
            raise malformed(f"版 {name!s} の鍵は 32 バイトの base64 で指定してください")
        keys[int(name)] = key
    current = data.get("current")
    if not isinstance(current, int) or current not in keys:
        raise malformed('"current" が "keys" の版を指していません')
    return current, keys


class LocalKeyProvider:
    """The KEK from a versioned key file, or a single version from ``MNV_MASTER_KEY``."""

    def __init__(self, keys: dict[int, bytes], current: int, path: Path | None = None) -> None:
        self._keys = dict(keys)
        self._current = current
        self.path = path
        self._stamp = self._file_stamp()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalKeyProvider:
        """``MNV_MASTER_KEY`` when set, else the key file; raise MasterKeyError with one clear line."""
        if settings.master_key:
            key = _decode_key(settings.master_key)
            if key is None:
                raise MasterKeyError(
                    "MNV_MASTER_KEY の形式が正しくありません。32 バイトの鍵を base64 で指定してください"
                    "（MNV_MASTER_KEY must be 32 bytes, base64）"
                )
            return cls({1: key}, 1)
        return cls.from_file(settings.effective_master_key_file)

    @classmethod
    def from_file(cls, path: Path | str) -> LocalKeyProvider:
        """Read a key file; raise MasterKeyError naming it when missing, unreadable or malformed."""
        path = Path(path)
        current, keys = cls._read(path)
        provider = cls(keys, current, path)
        provider._warn_if_exposed()
        return provider

    @staticmethod
    def _read(path: Path) -> tuple[int, dict[int, bytes]]:
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MasterKeyError(
                f"鍵ファイル {path} がありません。mnvault init で作成するか MNV_MASTER_KEY を設定してください"
                "（master key file not found）"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise MasterKeyError(
                f"鍵ファイル {path} を読み込めません: {reason}（master key file unreadable）"
            ) from None
        return _parse_key_file(path, raw)

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _warn_if_exposed(self) -> None:
        if self.path is not None and os.name == "posix":
            mode = self.path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning("master key file is readable by others; chmod 600 it", extra={"path": str(self.path)})

    def _refresh(self) -> None:
        """Pick up a rotation done by ``mnvault keys rotate`` in another process."""
        stamp = self._file_stamp()
        if self.path is None or stamp is None or stamp == self._stamp:
            return
        self._current, self._keys = self._read(self.path)
        self._stamp = stamp

    def current_version(self) -> int:
        """The version new wraps use."""
        self._refresh()
        return self._current

    def versions(self) -> list[int]:
        """Every live version, oldest first."""
        self._refresh()
        return sorted(self._keys)

    def wrap(self, key: bytes, context: bytes) -> WrappedKey:
        """Encrypt ``key`` under the current KEK version, bound to ``context``."""
        version = self.current_version()
        return WrappedKey(version, crypto.seal_blob(self._keys[version], key, context))

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """Decrypt a wrapped key; VaultIntegrityError for an unknown version or a mismatched context."""
        if wrapped.version not in self._keys:
            self._refresh()
        kek = self._keys.get(wrapped.version)
        if kek is None:
            raise VaultIntegrityError(f"master key version {wrapped.version} is not available")
        return crypto.open_blob(kek, wrapped.ciphertext, context, f"key wrapped by master key v{wrapped.version}")

    def derive_secret(self, purpose: str) -> bytes:
        """HKDF from the lowest live version, so derived secrets survive adding a version."""
        return crypto.derive(self._keys[min(self.versions())], purpose)

    def add_version(self) -> int:
        """Add a new random version to the key file and make it current."""
        self._require_file()
        version = max(self._keys) + 1
        keys = {**self._keys, version: crypto.new_key()}
        assert self.path is not None
        _write_key_file(self.path, version, keys)
        self._keys, self._current, self._stamp = keys, version, self._file_stamp()
        return version

    def retire_old_versions(self) -> list[int]:
        """Remove every version but the current one from the key file; returns the removed versions."""
        self._require_file()
        self._refresh()
        retired = sorted(v for v in self._keys if v != self._current)
        if retired:
            keys = {self._current: self._keys[self._current]}
            assert self.path is not None
            _write_key_file(self.path, self._current, keys)
            self._keys, self._stamp = keys, self._file_stamp()
        return retired

    def _require_file(self) -> None:
        if self.path is None:
            raise MasterKeyError(
                "MNV_MASTER_KEY の鍵は更新できません。鍵ファイル（MNV_MASTER_KEY_FILE）を使ってください"
                "（rotation needs a key file）"
            )
