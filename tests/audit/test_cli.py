"""``mnvault audit verify``: exit 0 on intact chains, non-zero naming the first bad sequence number otherwise."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.audit.log import record_many
from app.cli import main
from app.config import Settings
from app.db import make_engine
from app.vault import Vault
from tests.audit.conftest import add_tenant, make_event, tamper


def run_cli(settings: Settings, *args: str) -> Result:
    env = {
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
    }
    return CliRunner().invoke(main, ["audit", "verify", *args], env=env)


async def arrange(settings: Settings, *, tamper_with: str | None = None) -> dict[str, uuid.UUID]:
    """Two tenants with five entries each; optionally one raw-SQL change."""
    vault = Vault.from_settings(settings)  # the audit key source
    engine = make_engine(settings.effective_database_url, pool_size=1)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        tenants = {code: await add_tenant(session, code) for code in ("alpha", "beta")}
        await record_many(session, [make_event(t, n) for t in tenants.values() for n in range(5)])
        await session.commit()
        if tamper_with:
            await tamper(session, tamper_with)
    await engine.dispose()
    await vault.close()
    return tenants


def test_verify_exits_zero_when_every_chain_is_intact(settings: Settings) -> None:
    tenants = asyncio.run(arrange(settings))
    result = run_cli(settings)
    assert result.exit_code == 0, result.output
    assert f"OK  alpha ({tenants['alpha']}): 5 件" in result.output
    assert f"OK  beta ({tenants['beta']}): 5 件" in result.output


def test_verify_fails_naming_the_first_bad_sequence_number(settings: Settings) -> None:
    asyncio.run(arrange(settings, tamper_with="DELETE FROM audit_entries WHERE seq = 3"))
    result = run_cli(settings)
    assert result.exit_code == 1
    assert "NG  alpha" in result.output and "NG  beta" in result.output
    assert "番号 3" in result.stderr
    assert "改ざん" in result.stderr


def test_verify_checks_one_tenant_by_code_or_id(settings: Settings) -> None:
    tenants = asyncio.run(arrange(settings, tamper_with="UPDATE audit_entries SET purpose = 'x' WHERE seq = 4"))
    by_code = run_cli(settings, "--tenant", "beta")
    assert by_code.exit_code == 1 and "beta" in by_code.output and "alpha" not in by_code.output
    assert "番号 4" in by_code.stderr
    by_id = run_cli(settings, "--tenant", str(tenants["alpha"]))
    assert by_id.exit_code == 1 and "alpha" in by_id.output and "beta" not in by_id.output


def test_verify_refuses_an_unknown_tenant(settings: Settings) -> None:
    asyncio.run(arrange(settings))
    result = run_cli(settings, "--tenant", "nobody")
    assert result.exit_code == 1
    assert "テナント nobody が見つかりません" in result.stderr


def test_verify_on_an_empty_log_says_so(settings: Settings) -> None:
    result = run_cli(settings)
    assert result.exit_code == 0
    assert "操作履歴はまだありません" in result.output


def run_cli_command(settings: Settings, *args: str) -> Result:
    env = {
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
    }
    return CliRunner().invoke(main, list(args), env=env)


async def wipe_checkpoints_and_truncate(settings: Settings, keep: int) -> None:
    """An insider with both databases: empties the key store's checkpoints and truncates every chain."""
    keystore = make_engine(settings.effective_keystore_url, pool_size=1)
    async with keystore.begin() as connection:
        await connection.execute(text("DELETE FROM audit_checkpoints"))
    await keystore.dispose()
    engine = make_engine(settings.effective_database_url, pool_size=1)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        await tamper(
            session,
            f"DELETE FROM audit_entries WHERE seq > {keep}",
            f"UPDATE audit_chain_heads SET last_seq = {keep}, last_hash = "
            f"(SELECT hash FROM audit_entries e WHERE e.tenant_id = audit_chain_heads.tenant_id AND e.seq = {keep})",
        )
    await engine.dispose()


def test_checkpoint_out_then_verify_with_the_file_reports_a_truncated_tail(settings: Settings, tmp_path: Path) -> None:
    asyncio.run(arrange(settings))
    path = tmp_path / "auditor" / "checkpoint.json"
    written = run_cli_command(settings, "audit", "checkpoint", "--out", str(path))
    assert written.exit_code == 0, written.output
    assert "チェックポイントを書き込みました: 2 テナント" in written.output and "Ed25519" in written.output
    assert run_cli(settings, "--checkpoint", str(path)).exit_code == 0
    asyncio.run(wipe_checkpoints_and_truncate(settings, 3))
    assert run_cli(settings).exit_code == 0  # nothing inside the deployment remembers the lost tail
    result = run_cli(settings, "--checkpoint", str(path))
    assert result.exit_code == 1
    assert "番号 4〜5 の記録がありません" in result.output and "末尾の削除" in result.output


def test_verify_refuses_a_forged_checkpoint_file(settings: Settings, tmp_path: Path) -> None:
    asyncio.run(arrange(settings))
    path = tmp_path / "checkpoint.json"
    assert run_cli_command(settings, "audit", "checkpoint", "--out", str(path)).exit_code == 0
    path.write_text(path.read_text(encoding="utf-8").replace('"seq": 5', '"seq": 2'), encoding="utf-8")
    result = run_cli(settings, "--checkpoint", str(path))
    assert result.exit_code == 1 and "署名が一致しません" in result.stderr


def test_verify_reports_progress_on_stderr_and_the_total_at_the_end(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.audit import verify

    monkeypatch.setattr(verify, "VERIFY_PAGE", 2)
    monkeypatch.setattr(verify, "PROGRESS_EVERY", 4)
    asyncio.run(arrange(settings))

    result = run_cli(settings)

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["… alpha: 4 件を確認しました", "… beta: 4 件を確認しました"]
    assert "合計 10 件を" in result.stdout.splitlines()[-1]
    assert "件を確認しました" not in result.stdout.replace("合計", "")


def test_a_checkpoint_written_from_the_command_line_shows_on_the_log_page(settings: Settings) -> None:
    """``mnvault audit checkpoint`` keeps its outcome where the 操作履歴 page reads it (tester's report, issue 11)."""
    from app.audit.chain_state import chain_state

    ids = asyncio.run(arrange(settings))
    assert run_cli_command(settings, "audit", "checkpoint").exit_code == 0

    async def state_of(tenant_id: uuid.UUID) -> tuple[str, int | None]:
        engine = make_engine(settings.effective_database_url, pool_size=1)
        try:
            async with async_sessionmaker(engine)() as session:
                state = await chain_state(session, tenant_id)
                return state.status, state.checkpoint_seq
        finally:
            await engine.dispose()

    for tenant_id in ids.values():
        status, seq = asyncio.run(state_of(tenant_id))
        assert status == "ok" and seq is not None and seq > 0
