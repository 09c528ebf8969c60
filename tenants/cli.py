"""``mnvault check counts``: the people counters against a full recount, differences in Japanese, repaired.

The counters (``tenants.listing``) are kept in the same transaction as every change, so they should never differ;
this is the check (and the way back) after a restore, a manual edit of the database, or a bug. Each tenant is
checked in its own transaction, holding its people (the chain head) while it recounts, so running it on a live
server is safe: writers of that tenant wait for the recount (a fraction of a second per 100,000 people).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import make_engine
from app.tenancy import Tenant
from tenants.listing import CountKey, apply_count_deltas, compare_counts, remove_unknown_counts
from tenants.models import NO_DEPARTMENT, Department

if TYPE_CHECKING:
    from app.config import Settings


class UnknownTenant(LookupError):
    """The --tenant value names no tenant."""


@dataclass
class CountsOutcome:
    """Lines to print, and how many tenants' counters differed from the recount."""

    lines: list[str] = field(default_factory=list)
    differed: int = 0
    checked: int = 0


async def run_check_counts(settings: Settings, tenant: str | None, *, repair: bool = True) -> CountsOutcome:
    """Check one tenant (code or id) or, with ``tenant=None``, every tenant; repair what differs unless told not to.

    UnknownTenant when the code or id names no tenant.
    """
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            tenants = await _tenants(session, tenant)
        outcome = CountsOutcome()
        for found in tenants:
            async with sessions() as session:
                await _check_one(session, found, outcome, repair=repair)
        return _summarised(outcome, repair=repair)
    finally:
        await engine.dispose()


async def _tenants(session: AsyncSession, tenant: str | None) -> list[Tenant]:
    statement = select(Tenant).order_by(Tenant.code)
    if tenant is not None:
        try:
            statement = statement.where(or_(Tenant.code == tenant, Tenant.id == uuid.UUID(tenant)))
        except ValueError:
            statement = statement.where(Tenant.code == tenant)
    found = list((await session.execute(statement)).scalars())
    if tenant is not None and not found:
        raise UnknownTenant(f"テナント {tenant} が見つかりません（コードか ID を指定してください）")
    return found


async def _check_one(session: AsyncSession, tenant: Tenant, outcome: CountsOutcome, *, repair: bool) -> None:
    name = f"{tenant.code}（{tenant.name}）"
    unknown = await remove_unknown_counts(session, tenant.id, dry_run=not repair)
    wrong = await compare_counts(session, tenant.id)
    outcome.checked += 1
    if not wrong and not unknown:
        await session.rollback()
        outcome.lines.append(f"OK  {name}: 件数は数え直した結果と一致しています")
        return
    outcome.differed += 1
    if unknown:
        outcome.lines.append(
            f"NG  {name}: 種別か状態が読めない件数の記録が {unknown} 行あります（復元や手作業の変更など）"
        )
    if wrong:
        outcome.lines.append(f"NG  {name}: 件数が数え直した結果と {len(wrong)} か所で食い違っています")
        labels = await _department_labels(session, tenant.id)
        for key in sorted(wrong, key=lambda k: (labels.get(k[1], str(k[1])), k[2].value, k[3].value)):
            kept, counted = wrong[key]
            outcome.lines.append(f"    {_label(key, labels)}: 記録 {kept}人 → 数え直し {counted}人")
    if repair:
        if wrong:
            await apply_count_deltas(session, {key: counted - kept for key, (kept, counted) in wrong.items()})
        await session.commit()
        outcome.lines.append(
            "    数え直した件数に修復しました（読めない記録は削除しました）。"
            if unknown
            else "    数え直した件数に修復しました。"
        )
    else:
        await session.rollback()
        outcome.lines.append("    --dry-run のため修復していません。")


async def _department_labels(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(Department).where(Department.tenant_id == tenant_id))
    labels = {d.id: f"部門 {d.code} {d.name}" for d in rows.scalars()}
    labels[NO_DEPARTMENT] = "部門なし"
    return labels


def _label(key: CountKey, labels: dict[uuid.UUID, str]) -> str:
    _, department_id, kind, status = key
    department = labels.get(department_id, f"部門 {department_id}（見つかりません）")
    return f"{department} / {kind.label} / {status.value}"


def _summarised(outcome: CountsOutcome, *, repair: bool) -> CountsOutcome:
    if not outcome.checked:
        outcome.lines.append("テナントがありません。")
    elif not outcome.differed:
        outcome.lines.append(f"{outcome.checked} テナントの件数はすべて一致しています。")
    else:
        done = "修復しました" if repair else "修復していません（--dry-run）"
        outcome.lines.append(f"{outcome.checked} テナント中 {outcome.differed} テナントで食い違いがあり、{done}。")
    return outcome


# ``mnvault certificates issue`` ---------------------------------------------------------------------------------


class CertificateCommandError(Exception):
    """The certificate cannot be issued as asked; the message (Japanese) says what to change."""


CERTIFICATE_ACTOR_LOGIN = "mnvault certificates"


def parse_command_date(text: str, option: str) -> dt.date:
    """A ``YYYY-MM-DD`` date of an option (西暦 and 和暦 as the forms accept them); CertificateCommandError."""
    from app.text import DateRejected, parse_date

    try:
        day = parse_date(text)
    except DateRejected as exc:
        raise CertificateCommandError(f"{option} の日付{exc.message}（例: 2026-04-01）") from None
    if day is None:
        raise CertificateCommandError(f"{option} に日付を指定してください（例: 2026-04-01）")
    return day


async def run_issue_certificate(
    settings: Settings, tenant_code: str, start_text: str, end_text: str, output: Path
) -> list[str]:
    """Re-issue the 削除証明書 of a tenant's deletions in a period (JST days, both included) to ``output``.

    The same certificate and 印刷 entry as the records page (the actor is the command line). Returns the lines to
    print; CertificateCommandError (Japanese) for a bad date, a reversed period, an unknown tenant, no record.
    """
    from app.audit.events import Actor
    from app.forms import FormInvalid
    from app.tenancy import TenantKind
    from app.vault import Vault
    from tenants.certificates import issue_range_certificate
    from tenants.services import RecordRange

    start = parse_command_date(start_text, "--from")
    end = parse_command_date(end_text, "--to")
    if start > end:
        raise CertificateCommandError("--to は --from と同じ日かそれより後の日付にしてください")
    vault = Vault.from_settings(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            statement = select(Tenant).where(Tenant.code == tenant_code, Tenant.kind == TenantKind.COMPANY)
            tenant = (await session.execute(statement)).scalar_one_or_none()
            if tenant is None:
                raise CertificateCommandError(
                    f"事業者 {tenant_code} が見つかりません（事業者コードを指定してください）"
                )
            actor = Actor(
                user_id=None, login_id=CERTIFICATE_ACTOR_LOGIN, name="コマンドライン", role="system", organisation=""
            )
            try:
                certificate = await issue_range_certificate(session, tenant, actor, RecordRange(start, end))
            except FormInvalid as exc:
                raise CertificateCommandError(exc.message) from None
            await asyncio.to_thread(output.write_bytes, certificate.pdf)
            await session.commit()  # the 印刷 entry, once the file is written
    finally:
        await engine.dispose()
        await vault.close()
    return [
        f"{tenant.code}（{tenant.name}）の削除証明書を発行しました: {output}",
        f"期間: {start:%Y/%m/%d}〜{end:%Y/%m/%d}、削除記録 {certificate.rows} 件",
    ]


async def run_deletions_due(settings: Settings, tenant: str) -> list[str]:
    """``mnvault deletions due``: the tenant's people past their 削除予定日 (JST), oldest first, as tab-separated
    lines 社員コード, 対象者, 削除予定日 after a header; never a number. UnknownTenant for an unknown code or id."""
    from tenants.services import past_due_lines

    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            (found,) = await _tenants(session, tenant)
            lines = ["社員コード\t対象者\t削除予定日"]
            lines += [
                f"{line.employee_code}\t{line.name}\t{line.due_on:%Y/%m/%d}"
                for line in await past_due_lines(session, found)
            ]
            if len(lines) == 1:
                lines = [f"{found.code}: 削除予定日を過ぎたマイナンバーはありません。"]
            return lines
    finally:
        await engine.dispose()
