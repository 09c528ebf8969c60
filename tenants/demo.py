"""`mnvault demo`: an idempotent demo tenant with an admin, a handler and a viewer (demo data only)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor
from app.auth.models import Account, Role
from app.auth.passwords import hasher_from_settings
from app.auth.services import TOTP_PURPOSE
from app.auth.totp import new_totp_secret
from app.config import Settings
from app.db import utcnow
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.text import JST, format_date, today_in_japan
from app.vault import Vault
from app.vault.numbers import corporate_number_check_digit, my_number_check_digit
from billing.contract import change_contract, default_trial_end
from billing.models import BillingProfile
from tenants.models import PayeeType, Person, PersonKind, Relationship
from tenants.services._records import Channel
from tenants.services.bulk import DepartmentRecord, PersonRecord, write_people

DEMO_CODE = "demo"
TRIAL_DEMO_CODE = "otameshi"  # the second demo company, in its free trial
DEMO_PHONE = "0797-12-3456"  # fictional
DEMO_PASSWORD = "demo-password-2026"  # demo data only: printed by `mnvault demo`
DEMO_STAFF = (
    ("admin", "岡 昌平", Role.ADMIN, True),
    ("admin2", "井上 通", Role.ADMIN, True),  # the second admin who approves an early deletion (seed 004)
    ("handler", "高山 史", Role.HANDLER, True),
    ("viewer", "鈴木 奈々子", Role.VIEWER, False),
)


async def ensure_demo_tenant(session: AsyncSession, vault: Vault) -> Tenant:
    tenant = (await session.execute(select(Tenant).where(Tenant.code == DEMO_CODE))).scalar_one_or_none()
    if tenant is None:
        tenant = Tenant(
            code=DEMO_CODE,
            kind=TenantKind.COMPANY,
            name="デモ商事株式会社",
            name_kana="デモショウジ",
            corporate_number="7000012050002",
            postal_code="665-0845",
            address="兵庫県宝塚市栄町2-1-2",
            representative="河合 康則",
            phone=DEMO_PHONE,
            admin_seats=len(DEMO_STAFF),
        )
        session.add(tenant)
        await session.flush()
    tenant.phone = tenant.phone or DEMO_PHONE  # printed on the 削除証明書
    await vault.create_tenant_keys(session, tenant.id)
    await ensure_demo_contract(session, tenant)
    return tenant


async def ensure_demo_contract(session: AsyncSession, tenant: Tenant) -> None:
    """The demo tenant's contract (issue 13): active since the first day of last month (JST), member prices, the
    verification option (its 2 reviewer ids cover admin2 and the handler), recorded as contract changes once."""
    today = today_in_japan()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    terms: dict[str, object] = {
        "status": TenantStatus.ACTIVE,
        "is_member": True,
        "verification_enabled": True,
        "admin_seats": max(tenant.admin_seats, len(DEMO_STAFF)),  # demo tenants made before admin2 existed
    }
    starting = tenant.contract_starts_on is None
    if starting:
        terms["contract_starts_on"] = last_month
    if tenant.contract_ends_on is None or tenant.contract_ends_on < today:
        terms["contract_ends_on"] = today + dt.timedelta(days=365)
    changes = await change_contract(session, tenant, terms, changed_by="mnvault demo")
    if starting:  # the contract began last month: its terms (the option, member prices) held from that day on
        began = dt.datetime.combine(last_month, dt.time(), tzinfo=JST)
        for change in changes:
            change.changed_at = began
        await session.flush()


# A made-up 適格請求書発行事業者登録番号 for the demo operator: T + 13 digits whose check digit is right.
DEMO_ISSUER_BODY = "100000000001"


async def ensure_demo_billing_profile(session: AsyncSession) -> list[str]:
    """The operator's invoicing details for the demo (issue 13), so `mnvault billing close` works at once."""
    profile = (await session.execute(select(BillingProfile).limit(1))).scalar_one_or_none()
    if profile is None:
        profile = BillingProfile(
            issuer_name="マイナンバー保管サービス運営株式会社（デモ）",
            postal_code="665-0845",
            address="兵庫県宝塚市栄町1-1-1",
            phone=DEMO_PHONE,
            registration_number=f"T{corporate_number_check_digit(DEMO_ISSUER_BODY)}{DEMO_ISSUER_BODY}",
            bank_details="デモ銀行 宝塚支店 普通 1234567 マイナンバーホカンサービス（カ",
        )
        session.add(profile)
        await session.flush()
    return [f"運営者の請求情報: {profile.issuer_name}（登録番号 {profile.registration_number}）"]


async def ensure_trial_demo_tenant(session: AsyncSession, settings: Settings, vault: Vault) -> list[str]:
    """A second demo company still in its free trial (its admin sees the days left), with one admin account."""
    tenant = (await session.execute(select(Tenant).where(Tenant.code == TRIAL_DEMO_CODE))).scalar_one_or_none()
    if tenant is None:
        tenant = Tenant(
            code=TRIAL_DEMO_CODE,
            kind=TenantKind.COMPANY,
            name="おためし工業株式会社",
            name_kana="オタメシコウギョウ",
            phone=DEMO_PHONE,
            status=TenantStatus.TRIAL,
            trial_ends_on=default_trial_end(today_in_japan(), settings.trial_days),
        )
        session.add(tenant)
        await session.flush()
    await vault.create_tenant_keys(session, tenant.id)
    lines = await ensure_demo_staff(session, settings, vault, tenant, staff=DEMO_STAFF[:1])
    return [
        f"無料体験中のデモ事業者: {tenant.name}（事業者コード: {tenant.code}、"
        f"無料体験 {format_date(tenant.trial_ends_on)} まで）",
        f"ログインURL: {settings.effective_base_url}/t/{tenant.code}/login",
        *lines,
    ]


async def ensure_demo_staff(
    session: AsyncSession,
    settings: Settings,
    vault: Vault,
    tenant: Tenant,
    staff: tuple[tuple[str, str, Role, bool], ...] = DEMO_STAFF,
) -> list[str]:
    """Create the demo staff accounts once; always print how to sign in with them."""
    hasher = hasher_from_settings(settings)
    lines: list[str] = []
    for login_id, name, role, with_totp in staff:
        account = (
            await session.execute(select(Account).where(Account.tenant_id == tenant.id, Account.login_id == login_id))
        ).scalar_one_or_none()
        if account is None:
            account = Account(
                tenant_id=tenant.id,
                login_id=login_id,
                name=name,
                role=role,
                password_hash=hasher.hash(DEMO_PASSWORD),
                must_change_password=False,
            )
            session.add(account)
            await session.flush()
            if with_totp:
                account.totp_secret_sealed = await vault.seal_secret(
                    session, tenant.id, account.id, TOTP_PURPOSE, new_totp_secret().encode()
                )
                account.totp_enabled_at = utcnow()
        line = f"  {role.label:<8} ログインID: {login_id:<8} パスワード: {DEMO_PASSWORD}"
        if account.totp_enabled and account.totp_secret_sealed is not None:
            secret = await vault.open_secret(session, tenant.id, account.id, TOTP_PURPOSE, account.totp_secret_sealed)
            line += f"  TOTPシークレット: {secret.decode()}"
        lines.append(line)
    return lines


async def fill_demo(session: AsyncSession, settings: Settings, vault: Vault) -> list[str]:
    """Everything the demo needs, created once; prints the sign-in details every time."""
    tenant = await ensure_demo_tenant(session, vault)
    staff = await ensure_demo_staff(session, settings, vault, tenant)
    created = await ensure_demo_people(session, vault, tenant)
    disposal = await ensure_demo_disposal(session, vault, tenant)
    billing = await ensure_demo_billing_profile(session)
    base = settings.effective_base_url
    return [
        f"デモ事業者: {tenant.name}（事業者コード: {tenant.code}）",
        f"ログインURL: {base}/t/{tenant.code}/login",
        *staff,
        "  TOTP シークレットを認証アプリ（または oathtool --totp -b SECRET）に登録してください。",
        "従業員30名・扶養家族・取引先3件を作成しました。" if created else "従業員・取引先のデモデータは作成済みです。",
        *disposal,
        *billing,
    ]


DEPARTMENTS = (("101", "社長室"), ("102", "総務課"), ("201", "東京営業部"))
SURNAMES = (
    "河合",
    "真田",
    "高山",
    "鈴木",
    "安藤",
    "東野",
    "井原",
    "佐藤",
    "斉藤",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
)
SURNAME_KANA = (
    "カワイ",
    "サナダ",
    "タカヤマ",
    "スズキ",
    "アンドウ",
    "ヒガシノ",
    "イハラ",
    "サトウ",
    "サイトウ",
    "タナカ",
    "イトウ",
    "ワタナベ",
    "ヤマモト",
    "ナカムラ",
    "コバヤシ",
)
GIVEN = (
    ("康則", "ヤスノリ"),
    ("竜也", "タツヤ"),
    ("史", "フミ"),
    ("奈々子", "ナナコ"),
    ("信之", "ノブユキ"),
    ("二郎", "ジロウ"),
)
DEPENDANT_GIVEN = (
    ("順子", "ジュンコ"),
    ("真奈美", "マナミ"),
    ("翔", "ショウ"),
    ("弥生", "ヤヨイ"),
    ("裕子", "ユウコ"),
    ("健", "ケン"),
)
PAYEES = (
    ("山田 税理士事務所（山田 太郎）", PayeeType.INDIVIDUAL, "税理士報酬"),
    ("講師 佐々木 花子", PayeeType.INDIVIDUAL, "講演料"),
    ("株式会社サンプル印刷", PayeeType.CORPORATION, "原稿料・印刷"),
)
# Collection outcome per employee (cycled); the first employee stays unregistered for the demo sign-in.
OUTCOMES = (
    "none",
    "self",
    "self_confirmed",
    "proxy",
    "admin_confirmed",
    "declined",
    "self_confirmed",
    "admin_confirmed",
)


def demo_number(rng: random.Random, used: set[str]) -> str:
    """A My Number valid by its check digit, unique within the demo."""
    while True:
        base = "".join(rng.choice("0123456789") for _ in range(11))
        number = base + str(my_number_check_digit(base))
        if number not in used and len(set(number)) > 2:
            used.add(number)
            return number


def demo_corporate_number(rng: random.Random) -> str:
    twelve = "".join(rng.choice("0123456789") for _ in range(12))
    return str(corporate_number_check_digit(twelve)) + twelve


def demo_records(rng: random.Random) -> Iterator[PersonRecord]:
    """30 employees (each followed by their dependants) in every collection status, then 3 payees."""
    used: set[str] = set()
    for index in range(30):
        surname = index % len(SURNAMES)
        given, given_kana = GIVEN[index % len(GIVEN)]
        code = f"{index + 1:03d}"
        outcome = OUTCOMES[index % len(OUTCOMES)] if index else "none"
        yield PersonRecord(
            kind=PersonKind.EMPLOYEE,
            employee_code=code,
            name=f"{SURNAMES[surname]} {given}",
            kana=f"{SURNAME_KANA[surname]} {given_kana}",
            birth_date=dt.date(1960 + index, (index % 12) + 1, (index % 27) + 1),
            department_code=DEPARTMENTS[index % 3][0],
            hire_date=dt.date(2005 + index % 18, 4, 1),
            **outcome_fields(outcome, rng, used),
        )
        for dependant_index in range(0 if index % 5 == 4 else 1 + index % 3):
            name, kana = DEPENDANT_GIVEN[(index + dependant_index) % len(DEPENDANT_GIVEN)]
            yield PersonRecord(
                kind=PersonKind.DEPENDANT,
                employee_code=code,
                name=f"{SURNAMES[surname]} {name}",
                kana=f"{SURNAME_KANA[surname]} {kana}",
                relationship=(Relationship.SPOUSE if dependant_index == 0 else Relationship.CHILD).value,
                birth_date=dt.date(1990 + index % 20, 6, 1 + dependant_index),
                **outcome_fields(outcome, rng, used),
            )
    for name, payee_type, payment_kind in PAYEES:
        corporate = payee_type is PayeeType.CORPORATION
        yield PersonRecord(
            kind=PersonKind.PAYEE,
            name=name,
            payee_type=payee_type.value,
            payment_kind=payment_kind,
            address="兵庫県宝塚市",
            number=demo_corporate_number(rng) if corporate else "",
        )


def outcome_fields(outcome: str, rng: random.Random, used: set[str]) -> dict[str, Any]:
    """How far one demo person's number has come, as the pages would have brought it there."""
    if outcome == "none":
        return {}
    if outcome == "declined":
        return {"decline_reason": "家族の同意が得られていないため"}
    return {
        "number": demo_number(rng, used),
        "channel": Channel.PROXY if outcome == "proxy" else Channel.SELF,
        "self_confirmed": outcome in ("self_confirmed", "admin_confirmed"),
        "admin_confirmed": outcome == "admin_confirmed",
    }


async def ensure_demo_people(session: AsyncSession, vault: Vault, tenant: Tenant) -> bool:
    """3 departments, 30 employees with dependants in every collection status, 3 payees. Created once."""
    exists = await session.execute(
        select(Person.id).where(Person.tenant_id == tenant.id, Person.employee_code == "001")
    )
    if exists.first() is not None:
        return False
    admin = Actor(user_id=None, login_id="admin", name="岡 昌平", role="管理者", organisation=tenant.name)
    await write_people(
        session,
        vault,
        tenant_id=tenant.id,
        actor=admin,
        departments=[DepartmentRecord(code=code, name=name) for code, name in DEPARTMENTS],
        people=demo_records(random.Random(20261122)),
    )
    return True


# 削除管理 of the demo (issue 11): (社員コード, 退職日, how the number ends). The bulk fill proposes each 削除予定日
# from the retention rule (7 years after 1 January of the year after retirement): 026–028 are past it, 029 is not.
RETIRED = (
    ("026", dt.date(2016, 3, 31), "erased"),  # erased, with its deletion record: a 削除証明書 can be issued
    ("027", dt.date(2017, 3, 31), "past_due"),
    ("028", dt.date(2018, 9, 30), "past_due"),
    ("029", dt.date(2025, 3, 31), "early_request"),  # 本人の申出 before the due date: waits for admin2
)


async def ensure_demo_disposal(session: AsyncSession, vault: Vault, tenant: Tenant) -> list[str]:
    """Retired employees (past their 削除予定日 and not), insurance loss dates, one erased number with its deletion
    record and one early-deletion request waiting for the second admin. Created once; returns lines to print."""
    from app.auth.principal import Principal
    from tenants.models import DeletionRecord
    from tenants.services import ErasureChoice, erase_numbers, follow_retirement

    done = await session.execute(select(DeletionRecord.id).where(DeletionRecord.tenant_id == tenant.id).limit(1))
    if done.first() is not None:
        return ["削除管理のデモデータは作成済みです。"]
    employees = await session.execute(
        select(Person).where(Person.tenant_id == tenant.id, Person.kind == PersonKind.EMPLOYEE)
    )
    for index, employee in enumerate(employees.scalars()):  # insured from hire: 削除管理's 社保/雇保 filters
        employee.social_insurance_acquired_on = employee.hire_date
        if index % 4:  # some part-timers outside 雇用保険
            employee.employment_insurance_acquired_on = employee.hire_date
    codes = [code for code, _, _ in RETIRED]
    found = await session.execute(select(Person).where(Person.tenant_id == tenant.id, Person.employee_code.in_(codes)))
    people = {person.employee_code: person for person in found.scalars()}
    if len(people) != len(RETIRED):
        return []
    for code, retired_on, _ in RETIRED:
        person = people[code]
        person.retirement_date = retired_on
        person.social_insurance_acquired_on = person.employment_insurance_acquired_on = person.hire_date
        person.social_insurance_lost_on = person.employment_insurance_lost_on = retired_on + dt.timedelta(days=1)
    admin = (
        await session.execute(select(Account).where(Account.tenant_id == tenant.id, Account.login_id == "admin"))
    ).scalar_one()
    principal = Principal(
        account_id=admin.id,
        tenant_id=tenant.id,
        tenant_code=tenant.code,
        tenant_name=tenant.name,
        tenant_kind=tenant.kind,
        login_id=admin.login_id,
        name=admin.name,
        role=admin.role,
        totp_enabled=admin.totp_enabled,
        person_id=None,
        stepup_fresh=True,
    )
    await follow_retirement(session, list(people.values()), principal.actor())
    by_outcome = {outcome: people[code].id for code, _, outcome in RETIRED}
    await erase_numbers(
        session, vault, principal, [by_outcome["erased"]], ErasureChoice(reason="retention", include_dependants=True)
    )
    await erase_numbers(
        session, vault, principal, [by_outcome["early_request"]], ErasureChoice(reason="request", early=True)
    )
    return [
        "削除管理: 退職者4名（削除予定日を過ぎた2名、削除済み1名と削除記録、"
        "別の管理者 admin2 の承認待ちの予定日前削除1件）を作成しました。",
    ]
