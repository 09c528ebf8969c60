"""``mnvault billing close | usage | invoice | correct``: monthly invoicing from the command line (issue 13), as
lines to print.

The same services as the operator's pages (``billing.invoicing``, ``billing.usage``); the actor is the command
line. Every refusal is a ``BillingCommandError`` with one Japanese sentence saying what to change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import make_engine
from app.tenancy import Tenant, TenantKind
from app.text import today_in_japan
from billing.invoicing import BillingRefused, close_month, correct_invoice, month_invoice
from billing.models import INCLUDED_ADMIN_SEATS, VERIFICATION_ADMIN_SEATS, SeatKind
from billing.months import BadMonth, month_bounds, month_label, parse_month
from billing.pricing import packs_for
from billing.usage import month_peak, usage_days

if TYPE_CHECKING:
    from app.config import Settings

T = TypeVar("T")

CLOSE_ACTOR = "mnvault billing close"
CORRECT_ACTOR = "mnvault billing correct"


class BillingCommandError(Exception):
    """The command cannot do what was asked; the message (Japanese) says what to change."""


async def _run(settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run ``work`` on the main database with the vault open (the audit log's key source)."""
    from app.vault import Vault

    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        return await work(async_sessionmaker(engine, expire_on_commit=False))
    except BillingRefused as exc:
        raise BillingCommandError(str(exc)) from None
    finally:
        await engine.dispose()
        await vault.close()


def _month(text: str) -> dt.date:
    try:
        return parse_month(text)
    except BadMonth as exc:
        raise BillingCommandError(f"--month: {exc}") from None


async def _company(session: AsyncSession, code: str) -> Tenant:
    statement = select(Tenant).where(Tenant.code == code, Tenant.kind == TenantKind.COMPANY)
    tenant = (await session.execute(statement)).scalar_one_or_none()
    if tenant is None:
        raise BillingCommandError(f"事業者 {code} が見つかりません（--tenant に事業者コードを指定してください）")
    return tenant


async def run_close(settings: Settings, month_text: str) -> list[str]:
    """Close ``month_text`` (YYYY-MM): one invoice per billable tenant; returns the lines to print."""
    month = _month(month_text)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
        result = await close_month(sessions, month, actor=CLOSE_ACTOR)
        return [
            f"{month_label(month)}分の請求を締めました。",
            f"新しく発行した請求書: {result.created} 件",
            f"発行済みのため飛ばした事業者: {result.already_closed} 件",
        ]

    return await _run(settings, work)


async def run_usage(settings: Settings, tenant_code: str, month_text: str) -> list[str]:
    """The day-by-day id counts of a tenant's month (up to today for the current month) and the resulting
    quantities (peak, 5-user packs, extra admin ids), as a table."""
    month = _month(month_text)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
        async with sessions() as session:
            tenant = await _company(session, tenant_code)
            today = today_in_japan()
            if month > today:
                raise BillingCommandError(f"--month: {month_label(month)}はまだ始まっていません。")
            until = min(month_bounds(month)[1], today)
            days = await usage_days(session, tenant.id, month, until=until)
            self_peak = await month_peak(session, tenant.id, SeatKind.SELF_REGISTRATION, month, until=until)
            admin_peak = await month_peak(session, tenant.id, SeatKind.ADMIN, month, until=until)
        included = INCLUDED_ADMIN_SEATS + (VERIFICATION_ADMIN_SEATS if tenant.verification_enabled else 0)
        lines = [f"{tenant.code}（{tenant.name}） {month_label(month)}のID数", "日付        じぶんで登録ID  管理者ID"]
        lines += [f"{d.day.isoformat()}  {d.self_registration:>14}  {d.admin:>8}" for d in days]
        lines += [
            f"じぶんで登録IDの最大: {self_peak}",
            f"追加ID（5ユーザ単位）: {packs_for(self_peak)} パック",
            f"管理者IDの最大: {admin_peak}（含まれる {included}）",
            f"追加管理者ID: {max(0, admin_peak - included)}",
        ]
        return lines

    return await _run(settings, work)


async def run_invoice(settings: Settings, tenant_code: str, month_text: str, output: Path) -> list[str]:
    """Write the PDF of a tenant's invoice for a closed month to ``output``; returns the lines to print."""
    from billing.invoice_pdf import render_invoice

    month = _month(month_text)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
        async with sessions() as session:
            tenant = await _company(session, tenant_code)
            found = await month_invoice(session, tenant.id, month)
            if found is None:
                raise BillingCommandError(
                    f"{tenant.code} の{month_label(month)}分の請求書はありません"
                    f"（先に mnvault billing close --month {month:%Y-%m} を実行してください）"
                )
            invoice, lines = found
            document = await render_invoice(session, invoice, lines)
        await asyncio.to_thread(output.write_bytes, document.pdf)
        return [f"請求書 {invoice.number} を {output} に書き出しました。"]

    return await _run(settings, work)


async def run_correct(settings: Settings, tenant_code: str, month_text: str) -> list[str]:
    """Correct a tenant's current invoice for a closed month (``billing.invoicing.correct_invoice``): a credit note
    cancelling it and the month recomputed from the current data under the next number, in one transaction.

    Returns the lines to print; BillingCommandError (Japanese) for an unknown tenant code, a bad month, a month
    without an invoice, or a refusal of the correction (e.g. the issuer's registration number is missing).
    """
    month = _month(month_text)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
        async with sessions() as session:
            tenant = await _company(session, tenant_code)
            found = await month_invoice(session, tenant.id, month)
            if found is None:
                raise BillingCommandError(
                    f"{tenant.code} の{month_label(month)}分の請求書はありません"
                    f"（先に mnvault billing close --month {month:%Y-%m} を実行してください）"
                )
            invoice, _ = found
            credit, reissued = await correct_invoice(session, tenant.id, invoice.id, CORRECT_ACTOR)
            await session.commit()
        lines = [
            f"請求書 {invoice.number}（合計 {invoice.total:,}円）を取り消しました。",
            f"適格返還請求書: {credit.number}（合計 {credit.total:,}円）",
        ]
        if reissued is None:
            lines.append("現在の契約・利用では請求額がないため、再発行はしていません。")
        else:
            lines.append(f"再発行した請求書: {reissued.number}（合計 {reissued.total:,}円）")
        return lines

    return await _run(settings, work)
