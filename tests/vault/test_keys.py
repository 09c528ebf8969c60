"""Master keys: the key file, MNV_MASTER_KEY, wrapping, versions, and refusing to start without a key."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from app.config import Settings, load_settings
from app.vault import crypto
from app.vault.errors import MasterKeyError, VaultIntegrityError
from app.vault.keys import KeyProvider, LocalKeyProvider, RotatableKeyProvider, WrappedKey, create_key_file

CONTEXT = b"tenant-key|t1|data"


def test_create_key_file_writes_one_version_readable_only_by_the_owner(tmp_path: Path) -> None:
    path = create_key_file(tmp_path / "keys" / "master.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["current"] == 1 and len(base64.b64decode(data["keys"]["1"])) == 32


def test_create_key_file_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    path = create_key_file(tmp_path / "master.key")
    before = path.read_bytes()
    with pytest.raises(MasterKeyError, match="すでに"):
        create_key_file(path)
    assert path.read_bytes() == before


def test_a_missing_key_file_is_one_clear_line_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError) as excinfo:
        LocalKeyProvider.from_file(tmp_path / "nowhere.key")
    message = str(excinfo.value)
    assert str(tmp_path / "nowhere.key") in message and "\n" not in message
    assert "mnvault init" in message and "MNV_MASTER_KEY" in message


def test_an_unreadable_key_file_names_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "master.key"
    directory.mkdir()  # reading a directory fails even as root
    with pytest.raises(MasterKeyError, match="読み込めません") as excinfo:
        LocalKeyProvider.from_file(directory)
    assert str(directory) in str(excinfo.value)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"current": 1}',
        '{"current": 1, "keys": {}}',
        '{"current": 1, "keys": {"1": "c2hvcnQ="}}',
        '{"current": 1, "keys": {"1": "!!!notbase64!!!"}}',
        json.dumps({"current": 2, "keys": {"1": base64.b64encode(b"k" * 32).decode()}}),
        json.dumps({"current": 1, "keys": {"one": base64.b64encode(b"k" * 32).decode()}}),
    ],
)
def test_a_malformed_key_file_names_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "master.key"
    path.write_text(content)
    with pytest.raises(MasterKeyError, match="形式が正しくありません") as excinfo:
        LocalKeyProvider.from_file(path)
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize("value", ["short", base64.b64encode(b"x" * 16).decode(), "***"])
def test_a_malformed_master_key_variable_names_the_variable(tmp_path: Path, value: str) -> None:
    settings = load_settings({}, data_dir=str(tmp_path), master_key=value)
    with pytest.raises(MasterKeyError, match="MNV_MASTER_KEY"):
        LocalKeyProvider.from_settings(settings)


def test_the_variable_wins_over_the_key_file(tmp_path: Path) -> None:
    key = base64.b64encode(b"v" * 32).decode()
    settings = load_settings({}, data_dir=str(tmp_path), master_key=key)
    provider = LocalKeyProvider.from_settings(settings)
    assert provider.path is None and provider.current_version() == 1
    assert isinstance(provider, KeyProvider) and isinstance(provider, RotatableKeyProvider)


def test_wrapped_keys_open_only_with_the_same_context(tmp_path: Path) -> None:
    provider = LocalKeyProvider.from_file(create_key_file(tmp_path / "master.key"))
    key = crypto.new_key()
    wrapped = provider.wrap(key, CONTEXT)
    assert wrapped.version == 1 and key not in wrapped.ciphertext
    assert provider.unwrap(wrapped, CONTEXT) == key
    with pytest.raises(VaultIntegrityError):
        provider.unwrap(wrapped, b"tenant-key|t2|data")
    tampered = WrappedKey(1, wrapped.ciphertext[:-1] + bytes([wrapped.ciphertext[-1] ^ 1]))
    with pytest.raises(VaultIntegrityError):
        provider.unwrap(tampered, CONTEXT)


def test_an_unknown_master_key_version_is_an_integrity_error(tmp_path: Path) -> None:
    provider = LocalKeyProvider.from_file(create_key_file(tmp_path / "master.key"))
    wrapped = provider.wrap(crypto.new_key(), CONTEXT)
    with pytest.raises(VaultIntegrityError, match="version 7"):
        provider.unwrap(WrappedKey(7, wrapped.ciphertext), CONTEXT)


def test_adding_a_version_keeps_old_wraps_readable_until_retired(tmp_path: Path) -> None:
    provider = LocalKeyProvider.from_file(create_key_file(tmp_path / "master.key"))
    key = crypto.new_key()
    old = provider.wrap(key, CONTEXT)
    assert provider.add_version() == 2
    assert provider.wrap(key, CONTEXT).version == 2
    assert provider.unwrap(old, CONTEXT) == key
    assert provider.retire_old_versions() == [1]
    assert provider.versions() == [2]
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    with pytest.raises(VaultIntegrityError):
        provider.unwrap(old, CONTEXT)


def test_another_process_picks_up_a_rotation_from_the_key_file(tmp_path: Path) -> None:
    path = create_key_file(tmp_path / "master.key")
    server = LocalKeyProvider.from_file(path)
    operator = LocalKeyProvider.from_file(path)
    operator.add_version()
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    wrapped = operator.wrap(b"k" * 32, CONTEXT)
    assert server.unwrap(wrapped, CONTEXT) == b"k" * 32
    assert server.current_version() == 2


def test_rotation_needs_a_key_file(tmp_path: Path) -> None:
    provider = LocalKeyProvider({1: b"k" * 32}, 1)
    with pytest.raises(MasterKeyError, match="鍵ファイル"):
        provider.add_version()


def test_derived_secrets_are_stable_across_an_added_version_and_differ_by_purpose(tmp_path: Path) -> None:
    provider = LocalKeyProvider.from_file(create_key_file(tmp_path / "master.key"))
    csrf = provider.derive_secret("csrf")
    provider.add_version()
    assert provider.derive_secret("csrf") == csrf
    assert provider.derive_secret("other") != csrf and len(csrf) == 32


def test_the_app_refuses_to_start_without_a_key(settings: Settings, tmp_path: Path) -> None:
    from app.main import create_app

    keyless = load_settings(
        {},
        data_dir=str(tmp_path / "empty"),
        database_url=settings.database_url,
        keystore_url=settings.keystore_url,
    )
    with pytest.raises(MasterKeyError) as excinfo:
        create_app(keyless)
    assert str(keyless.effective_master_key_file) in str(excinfo.value)


def test_serving_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    from app.bootstrap import check_ready

    with pytest.raises(MasterKeyError):
        check_ready(load_settings({}, data_dir=str(tmp_path)))


def test_the_cli_prints_one_line_when_the_key_is_missing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from app.cli import main

    result = CliRunner().invoke(main, ["purge"], env={"MNV_DATA_DIR": str(tmp_path), "MNV_MASTER_KEY": ""})
    assert result.exit_code == 1
    assert "エラー:" in result.output and "master.key" in result.output
    assert "Traceback" not in result.output


def test_init_creates_the_key_file_once_and_serving_then_starts(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from app.bootstrap import check_ready
    from app.cli import main

    env = {
        "MNV_DATA_DIR": str(tmp_path),
        "MNV_MASTER_KEY": "",
        "MNV_ARGON2_TIME_COST": "1",
        "MNV_ARGON2_MEMORY_KIB": "64",
    }
    result = CliRunner().invoke(main, ["init"], env=env)
    assert result.exit_code == 0, result.output
    path = tmp_path / "master.key"
    assert "鍵ファイルを作成しました" in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    again = CliRunner().invoke(main, ["init"], env=env)
    assert again.exit_code == 0, again.output
    assert path.read_bytes() == first and "鍵ファイルを作成しました" not in again.output
    check_ready(load_settings({}, data_dir=str(tmp_path)))
    assert (tmp_path / "keystore.db").exists()
