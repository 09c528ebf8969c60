"""The `mnvault` command as an operator runs it: a fresh process each time, against the test's databases."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from app.config import Settings

PROJECT = Path(__file__).resolve().parent.parent


def mnvault(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
        "MNV_ARGON2_TIME_COST": "1",
        "MNV_ARGON2_MEMORY_KIB": "64",
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=300
    )


def test_init_then_demo_twice_then_the_log_verifies(settings: Settings) -> None:
    init = mnvault(settings, "init")
    assert init.returncode == 0, init.stderr
    assert "初回パスワード" in init.stdout
    again = mnvault(settings, "init")
    assert again.returncode == 0 and "初回パスワード" not in again.stdout
    first = mnvault(settings, "demo")
    assert first.returncode == 0, first.stderr
    assert "ログインID: admin" in first.stdout and "TOTPシークレット" in first.stdout
    assert "削除管理: 退職者4名" in first.stdout and "admin2" in first.stdout
    # 社労士 features can be tried at once: an office linked to the demo company, with a file waiting for it.
    assert "デモ社労士事務所: 佐藤社会保険労務士事務所" in first.stdout and "ログインID: srstaff" in first.stdout
    assert "入社の連絡が届いています" in first.stdout
    second = mnvault(settings, "demo")
    assert second.returncode == 0, second.stderr
    assert "作成済み" in second.stdout and "削除管理のデモデータは作成済みです。" in second.stdout
    # 削除管理 can be tried at once: numbers past their due date, and an erased one whose certificate can be issued.
    due = mnvault(settings, "deletions", "due", "--tenant", "demo")
    assert due.returncode == 0, due.stderr
    assert {line.split("\t")[0] for line in due.stdout.splitlines()[1:]} == {"027", "028"}  # with dependants
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date().isoformat()
    pdf = Path(settings.data_dir) / "certificate.pdf"
    issued = mnvault(
        settings, "certificates", "issue", "--tenant", "demo", "--from", today, "--to", today, "-o", str(pdf)
    )
    assert issued.returncode == 0, issued.stdout + issued.stderr
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "削除証明書" in text and "保存期間経過" in text and "0797-12-3456" in text
    verify = mnvault(settings, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "OK  demo" in verify.stdout


def test_a_bad_setting_stops_with_one_line(settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env={**os.environ, "MNV_PORT": "http"},
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "MNV_PORT" in result.stderr


def test_version_prints_the_version() -> None:
    result = subprocess.run([sys.executable, "-m", "app.cli", "version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("mnvault ")


def test_the_server_refuses_to_start_without_its_key_file_in_one_line(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MNV_")}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "0"],
        env={**env, "MNV_DATA_DIR": str(tmp_path)},
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "鍵ファイル" in result.stderr and "mnvault init" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created: no database, no key
