"""``mnvault billing close | usage | invoice | correct`` (issue 13): the operator's automation, Japanese errors."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.tenancy import Tenant
from billing.models import Invoice, SeatKind, SeatUsageDay
from billing.usage import LEDGER_OPENING
from tests.billing.test_invoicing import set_profile
from tests.support.world import World


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "MNV_DATA_DIR": settings.data_dir,
        "MNV_DATABASE_URL": settings.effective_database_url,
        "MNV_KEYSTORE_URL": settings.effective_keystore_url,
        "MNV_MASTER_KEY": settings.master_key,
    }


async def mnvault(settings: Settings, *args: str) -> Result:
    from app.cli import main

    runner: Any = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, ["billing", *args], env=cli_env(settings))


async def active_contract(db: AsyncSession, world: World) -> None:
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(contract_starts_on=dt.date(2026, 10, 1)))
    await db.commit()


async def test_close_writes_the_invoices_once(settings: Settings, db: AsyncSession, world: World) -> None:
    await active_contract(db, world)
    await set_profile(db)
    first = await mnvault(settings, "close", "--month", "2026-10")
    assert first.exit_code == 0, first.output
    assert "2026年10月分の請求を締めました" in first.output and "新しく発行した請求書: 1 件" in first.output
    again = await mnvault(settings, "close", "--month", "2026-10")
    assert again.exit_code == 0 and "発行済みのため飛ばした事業者: 1 件" in again.output
    numbers = (await db.execute(select(Invoice.number))).scalars().all()
    assert list(numbers) == [f"{world.tenant.code}-202610-01"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["close", "--month", "2026/10"], "西暦4桁とハイフンと月2桁"),
        (["usage", "--tenant", "nosuch", "--month", "2026-10"], "事業者 nosuch が見つかりません"),
        (["usage", "--tenant", "acme", "--month", "10月"], "西暦4桁とハイフンと月2桁"),
        (["invoice", "--tenant", "acme", "--month", "2026-10", "-o", "x.pdf"], "請求書はありません"),
        (["close", "--month", "2026-10"], "運営者の請求情報"),
        (["correct", "--tenant", "acme", "--month", "2026-10"], "請求書はありません"),
        (["correct", "--tenant", "nosuch", "--month", "2026-10"], "事業者 nosuch が見つかりません"),
        (["correct", "--tenant", "acme", "--month", "2026/10"], "西暦4桁とハイフンと月2桁"),
    ],
)
async def test_bad_input_is_one_japanese_line(
    settings: Settings, world: World, args: list[str], message: str, tmp_path: Path
) -> None:
    if "-o" in args:
        args = [*args[:-1], str(tmp_path / args[-1])]
    result = await mnvault(settings, *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


async def test_usage_prints_the_days_and_the_quantities(settings: Settings, db: AsyncSession, world: World) -> None:
    tenant_id = world.tenant.id
    await db.execute(SeatUsageDay.__table__.delete().where(SeatUsageDay.__table__.c.tenant_id == tenant_id))
    for day, peak, closing in [(LEDGER_OPENING, 50, 50), (dt.date(2026, 10, 12), 56, 51)]:
        db.add(SeatUsageDay(tenant_id=tenant_id, kind=SeatKind.SELF_REGISTRATION, day=day, peak=peak, closing=closing))
    db.add(SeatUsageDay(tenant_id=tenant_id, kind=SeatKind.ADMIN, day=LEDGER_OPENING, peak=3, closing=3))
    await db.commit()
    result = await mnvault(settings, "usage", "--tenant", "acme", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split() == ["2026-10-11", "50", "3"] for line in lines)
    assert any(line.split() == ["2026-10-12", "56", "3"] for line in lines)
    assert any(line.split() == ["2026-10-31", "51", "3"] for line in lines)
    assert "じぶんで登録IDの最大: 56" in result.output
    assert "追加ID（5ユーザ単位）: 2 パック" in result.output
    assert "追加管理者ID: 1" in result.output


async def test_invoice_writes_the_pdf(settings: Settings, db: AsyncSession, world: World, tmp_path: Path) -> None:
    await active_contract(db, world)
    await set_profile(db)
    assert (await mnvault(settings, "close", "--month", "2026-10")).exit_code == 0
    output = tmp_path / "invoice.pdf"
    result = await mnvault(settings, "invoice", "--tenant", "acme", "--month", "2026-10", "-o", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(b"%PDF")
    assert f"{world.tenant.code}-202610-01" in result.output


async def test_correct_cancels_the_current_invoice_and_reissues_it(
    settings: Settings, db: AsyncSession, world: World
) -> None:
    await active_contract(db, world)
    await set_profile(db)
    assert (await mnvault(settings, "close", "--month", "2026-10")).exit_code == 0
    await db.execute(update(Tenant).where(Tenant.id == world.tenant.id).values(is_member=True))
    await db.commit()
    code = world.tenant.code
    result = await mnvault(settings, "correct", "--tenant", code, "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert f"請求書 {code}-202610-01（合計 14,300円）を取り消しました。" in result.output
    assert f"適格返還請求書: CN-{code}-202610-01（合計 -14,300円）" in result.output
    assert f"再発行した請求書: {code}-202610-02（合計 7,150円）" in result.output  # member prices now
    again = await mnvault(settings, "correct", "--tenant", code, "--month", "2026-10")  # corrects the -02 one
    assert again.exit_code == 0 and f"{code}-202610-03" in again.output
    numbers = (await db.execute(select(Invoice.number).order_by(Invoice.number))).scalars().all()
    assert list(numbers) == [
        f"CN-{code}-202610-01",
        f"CN-{code}-202610-02",
        f"{code}-202610-01",
        f"{code}-202610-02",
        f"{code}-202610-03",
    ]
