"""Contract-end erasure of a whole tenant (issue 13, seed 000 Q15): refused during the grace period; afterwards no
number, image or key of the tenant can be opened (not even from a backup of the main database), the other tenant is
untouched, sign-in says why, a record and a tenant-level 削除証明書 are issued, the operator's log says so; a rerun
changes nothing and a rerun after a crash finishes the job; only the operator reaches the screens."""

from __future__ import annotations

import datetime as dt
import io
import os
import uuid
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.events import Actor, AuditAction, Subject
from app.audit.verify import verify_chain
from app.auth import sessions as sessions_module
from app.auth.models import Account
from app.blobs import LocalBlobStore
from app.config import Settings
from app.db import new_id
from app.documents import DocumentBlob, DocumentGone, DocumentNotFound, blob_key, open_document, store_document
from app.tenancy import Tenant, TenantKind, TenantStatus
from app.text import format_date, today_in_japan
from app.vault import NumberField, NumberNotFound, Vault, VaultIntegrityError
from app.vault.keystore import KeyStore, NumberKey
from app.vault.models import TenantKey, VaultNumber
from billing import tenant_erasure
from billing.erasure_cli import EraseCommandError, run_erase_tenant
from billing.models import SeatKind, TenantErasure
from billing.tenant_erasure import ERASURE_FUNCTION, TenantErasureRefused, erase_tenant
from billing.usage import active_ids
from tests.support.audit import entries
from tests.support.world import World, post_form, sign_in, step_up
from tests.vault.helpers import ADMIN, my_number
from tests.vault.test_erasure_on_disk import files_holding

GRACE = 30
OPERATOR_ACTOR = Actor(user_id=None, login_id="operator", name="運営 太郎", role="運営者", organisation="運営者")
SQLITE_ONLY = pytest.mark.skipif(os.environ.get("MNV_TEST_DB") == "postgres", reason="file scan: SQLite files")


@dataclass
class Arranged:
    numbers: dict[uuid.UUID, str]  # person id -> the number in clear (acme)
    documents: list[uuid.UUID]
    other_subject: Subject
    other_number: str


def vault_of(app: Litestar) -> Vault:
    return app.state["vault"]  # type: ignore[no-any-return]


def blob_store(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.effective_blob_dir)


def sessions_of(db: AsyncSession) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=db.bind, expire_on_commit=False)


async def store_number(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, subject: Subject, number: str) -> None:
    await vault.store_number(
        db,
        tenant_id=tenant_id,
        subject=subject,
        field=NumberField.MY_NUMBER,
        number=number,
        actor=ADMIN,
        action=AuditAction.PROXY_REGISTER,
        function="テスト",
    )


async def arrange(
    db: AsyncSession, app: Litestar, settings: Settings, world: World, *, ended_days_ago: int
) -> Arranged:
    """Three numbers and two ID images in acme, one number in the other company; acme's contract ended then."""
    vault = vault_of(app)
    numbers: dict[uuid.UUID, str] = {}
    documents: list[uuid.UUID] = []
    for index in range(3):
        subject = Subject(person_id=new_id(), name=f"従業員 {index}")
        numbers[subject.person_id] = my_number()  # type: ignore[index]
        await store_number(db, vault, world.tenant.id, subject, numbers[subject.person_id])  # type: ignore[index]
        if index < 2:
            stored = await store_document(
                db,
                vault,
                blob_store(settings),
                tenant_id=world.tenant.id,
                person_id=subject.person_id,  # type: ignore[arg-type]
                kind="my_number_card",
                data=b"an image of the card " * 20,
                quota_bytes=10**9,
            )
            documents.append(stored.id)
    other = Subject(person_id=new_id(), name="よその 人")
    other_number = my_number()
    await store_number(db, vault, world.other_tenant.id, other, other_number)
    await db.execute(
        update(Tenant)
        .where(Tenant.id == world.tenant.id)
        .values(contract_ends_on=today_in_japan() - dt.timedelta(days=ended_days_ago))
    )
    await vault.commit(db)
    return Arranged(numbers, documents, other, other_number)


async def erase(db: AsyncSession, app: Litestar, settings: Settings, tenant_id: uuid.UUID) -> TenantErasure:
    return await erase_tenant(
        sessions_of(db),
        vault_of(app),
        blob_store(settings),
        tenant_id,
        OPERATOR_ACTOR,
        today=today_in_japan(),
        grace_days=GRACE,
        batch_size=2,  # several batches of three numbers: the loops are walked
    )


async def reveal(db: AsyncSession, vault: Vault, tenant_id: uuid.UUID, person_id: uuid.UUID) -> str:
    return await vault.reveal(
        db,
        tenant_id=tenant_id,
        subject=Subject(person_id=person_id),
        field=NumberField.MY_NUMBER,
        actor=ADMIN,
        purpose="源泉徴収",
        function="テスト",
    )


async def fresh_tenant(db: AsyncSession, tenant_id: uuid.UUID) -> Tenant | None:
    statement = select(Tenant).where(Tenant.id == tenant_id).execution_options(populate_existing=True)
    return (await db.execute(statement)).scalar_one_or_none()


async def count(db: AsyncSession, model: type, *where: object) -> int:
    return int((await db.execute(select(func.count()).select_from(model).where(*where))).scalar_one())  # type: ignore[arg-type]


# The rule ------------------------------------------------------------------------------------------------------------


async def test_it_is_refused_during_the_grace_period_and_nothing_changes(
    app: Litestar, db: AsyncSession, settings: Settings, world: World
) -> None:
    arranged = await arrange(db, app, settings, world, ended_days_ago=GRACE)  # the grace ends today
    grace_end = format_date(today_in_japan())
    with pytest.raises(TenantErasureRefused) as refused:
        await erase(db, app, settings, world.tenant.id)
    assert refused.value.message == f"猶予期間（{grace_end} まで）が終わるまで消去できません。"

    tenant = await fresh_tenant(db, world.tenant.id)
    assert tenant is not None and tenant.erased_at is None and tenant.status is TenantStatus.ACTIVE
    person_id, number = next(iter(arranged.numbers.items()))
    assert await reveal(db, vault_of(app), world.tenant.id, person_id) == number
    assert await count(db, TenantErasure) == 0
    assert await count(db, Account, Account.tenant_id == world.tenant.id, Account.disabled_at.is_not(None)) == 0


def test_the_rule_needs_an_end_date_and_the_grace_period_over() -> None:
    tenant = Tenant(code="x", name="x", kind=TenantKind.COMPANY, status=TenantStatus.ACTIVE)
    tenant.contract_ends_on = None
    tenant.erased_at = None
    status = tenant_erasure.erasure_status(tenant, today=today_in_japan(), grace_days=GRACE)
    assert not status.erasable and "契約終了日が設定されていません" in status.refusal
    tenant.status = TenantStatus.ENDED
    assert (
        "事業者情報の編集で契約終了日を設定してください"
        in tenant_erasure.erasure_status(tenant, today=today_in_japan(), grace_days=GRACE).refusal
    )
    tenant.contract_ends_on = today_in_japan() + dt.timedelta(days=3)
    tenant.status = TenantStatus.ACTIVE
    assert (
        "契約が終了していない"
        in tenant_erasure.erasure_status(tenant, today=today_in_japan(), grace_days=GRACE).refusal
    )
    tenant.contract_ends_on = today_in_japan() - dt.timedelta(days=GRACE + 1)
    status = tenant_erasure.erasure_status(tenant, today=today_in_japan(), grace_days=GRACE)
    assert status.erasable and status.pending and status.grace_ends_on == today_in_japan() - dt.timedelta(days=1)


# The erasure ---------------------------------------------------------------------------------------------------------


async def test_after_the_grace_period_nothing_of_the_tenant_can_be_opened_and_the_other_tenant_is_untouched(
    app: Litestar, db: AsyncSession, settings: Settings, world: World
) -> None:
    vault = vault_of(app)
    arranged = await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)
    # A backup of the main database taken before: the sealed rows and the wrapped tenant keys.
    backup_numbers = (await db.execute(select(VaultNumber).where(VaultNumber.tenant_id == world.tenant.id))).all()
    backup_numbers = [
        (row.id, bytes(row.ciphertext), bytes(row.nonce), bytes(row.blind_index))
        for (row,) in backup_numbers  # type: ignore[misc]
    ]
    backup_keys = [
        (row.version, row.kek_version, bytes(row.wrapped_data_key), bytes(row.wrapped_index_key))
        for row in (await db.execute(select(TenantKey).where(TenantKey.tenant_id == world.tenant.id))).scalars()
    ]

    erasure = await erase(db, app, settings, world.tenant.id)

    assert (erasure.numbers_erased, erasure.documents_erased, erasure.people) == (3, 2, 3)
    assert erasure.tenant_code == "acme" and erasure.certificate_number.startswith("TE-")
    for person_id in arranged.numbers:
        with pytest.raises(NumberNotFound):
            await reveal(db, vault, world.tenant.id, person_id)
    assert await vault.keystore.count_tenant(world.tenant.id) == 0
    assert await count(db, TenantKey, TenantKey.tenant_id == world.tenant.id) == 0
    assert await count(db, DocumentBlob, DocumentBlob.tenant_id == world.tenant.id) == 0
    for document_id in arranged.documents:
        assert not (settings.effective_blob_dir / blob_key(world.tenant.id, document_id)).exists()
        with pytest.raises((DocumentGone, DocumentNotFound)):
            await open_document(db, vault, blob_store(settings), tenant_id=world.tenant.id, document_id=document_id)
    # The other company still reveals its number.
    assert await reveal(db, vault, world.other_tenant.id, arranged.other_subject.person_id) == arranged.other_number  # type: ignore[arg-type]

    # Restoring the main database's backup brings nothing back: the keys were in the key store only.
    for version, kek_version, data_key, index_key in backup_keys:
        db.add(TenantKey(tenant_id=world.tenant.id, version=version, kek_version=kek_version,
                         wrapped_data_key=data_key, wrapped_index_key=index_key))  # fmt: skip
    for number_id, ciphertext, nonce, index in backup_numbers:
        await db.execute(
            update(VaultNumber)
            .where(VaultNumber.tenant_id == world.tenant.id, VaultNumber.id == number_id)
            .values(ciphertext=ciphertext, nonce=nonce, blind_index=index, erased_at=None)
        )
    await db.flush()
    with pytest.raises(VaultIntegrityError):
        await reveal(db, vault, world.tenant.id, next(iter(arranged.numbers)))
    await db.rollback()


async def test_the_tenant_is_closed_its_accounts_signed_out_and_the_erasure_logged(
    app: Litestar, db: AsyncSession, settings: Settings, world: World
) -> None:
    await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)
    erasure = await erase(db, app, settings, world.tenant.id)

    tenant = await fresh_tenant(db, world.tenant.id)
    assert tenant is not None and tenant.erased_at is not None and tenant.status is TenantStatus.ENDED
    assert await count(db, Account, Account.tenant_id == world.tenant.id, Account.disabled_at.is_(None)) == 0
    for kind in SeatKind:  # the billed ids follow the bulk disabling (billing.usage's ledger)
        assert await active_ids(db, world.tenant.id, kind) == 0
    operator_log = [e for e in await entries(db, world.operator.tenant.id) if e.function == ERASURE_FUNCTION]
    assert len(operator_log) == 1 and operator_log[0].action == AuditAction.DELETE
    assert operator_log[0].detail["certificate_number"] == erasure.certificate_number
    assert operator_log[0].detail["tenant_name"] == "アクメ商事株式会社" and operator_log[0].detail["numbers"] == 3
    own = [e for e in await entries(db, world.tenant.id) if e.function == ERASURE_FUNCTION]
    assert [e.action for e in own].count(AuditAction.DELETE) == 4  # one 削除 per number and the summary
    assert await count(db, Account, Account.tenant_id == world.other_tenant.id, Account.disabled_at.is_not(None)) == 0
    for chain in (world.tenant.id, world.operator.tenant.id):  # the chains stay whole: nothing was removed
        assert (await verify_chain(db, chain)).ok


async def test_a_second_run_changes_nothing(app: Litestar, db: AsyncSession, settings: Settings, world: World) -> None:
    await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)
    first = await erase(db, app, settings, world.tenant.id)
    logged = (len(await entries(db, world.tenant.id)), len(await entries(db, world.operator.tenant.id)))

    again = await erase(db, app, settings, world.tenant.id)

    assert (again.id, again.certificate_number, again.numbers_erased) == (first.id, first.certificate_number, 3)
    assert await count(db, TenantErasure) == 1
    assert (len(await entries(db, world.tenant.id)), len(await entries(db, world.operator.tenant.id))) == logged


async def test_a_rerun_after_a_crash_finishes_the_job(
    app: Litestar, db: AsyncSession, settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)

    async def crash(*args: object, **kwargs: object) -> object:
        raise RuntimeError("power cut")

    with monkeypatch.context() as patched:  # a crash after the numbers, before the tenant's data keys
        patched.setattr(KeyStore, "delete_tenant", crash)
        with pytest.raises(RuntimeError):
            await erase(db, app, settings, world.tenant.id)
    assert await count(db, VaultNumber, VaultNumber.tenant_id == world.tenant.id, VaultNumber.erased_at.is_(None)) == 0
    assert await count(db, TenantKey, TenantKey.tenant_id == world.tenant.id) == 1
    with monkeypatch.context() as patched:  # a crash after every key, before the record
        patched.setattr(tenant_erasure, "_record_once", crash)
        with pytest.raises(RuntimeError):
            await erase(db, app, settings, world.tenant.id)
    assert await count(db, TenantErasure) == 0  # keys first: the record is not written yet
    assert await count(db, TenantKey, TenantKey.tenant_id == world.tenant.id) == 0
    assert await vault_of(app).keystore.count_tenant(world.tenant.id) == 0

    erasure = await erase(db, app, settings, world.tenant.id)
    assert (erasure.numbers_erased, erasure.documents_erased, erasure.people) == (3, 2, 3)
    assert await count(db, DocumentBlob, DocumentBlob.tenant_id == world.tenant.id) == 0


@SQLITE_ONLY
async def test_no_number_key_or_ciphertext_of_the_tenant_is_left_in_the_database_files(
    app: Litestar, db: AsyncSession, settings: Settings, world: World
) -> None:
    arranged = await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)
    row = (await db.execute(select(VaultNumber).where(VaultNumber.tenant_id == world.tenant.id).limit(1))).scalar_one()
    ciphertext = bytes(row.ciphertext)  # type: ignore[arg-type]
    async with vault_of(app).keystore.engine.connect() as keystore:
        wrapped = (
            await keystore.execute(select(NumberKey.wrapped_key).where(NumberKey.number_id == row.id))
        ).scalar_one()
    data_key = bytes(
        (
            await db.execute(select(TenantKey.wrapped_data_key).where(TenantKey.tenant_id == world.tenant.id))
        ).scalar_one()
    )
    await db.commit()
    assert files_holding(settings, ciphertext) and files_holding(settings, wrapped)  # the scan sees them

    await erase(db, app, settings, world.tenant.id)

    for needle in (ciphertext, bytes(wrapped), data_key):
        assert files_holding(settings, needle) == []
    for number in arranged.numbers.values():
        assert files_holding(settings, number.encode()) == []


# Screens ------------------------------------------------------------------------------------------------------------


async def test_the_operator_erases_from_the_tenant_page_with_step_up_and_the_code(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    db: AsyncSession,
    settings: Settings,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arranged = await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)
    await sign_in(client, world.operator)
    tenant_page = await client.get(f"/operator/tenants/{world.tenant.id}")
    assert "契約終了後の全データ消去" in tenant_page.text and "消去待ち" in tenant_page.text
    assert "消去待ち" in (await client.get("/operator/tenants")).text
    path = f"/operator/tenants/{world.tenant.id}/erasure"
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)  # the sign-in's step-up is stale

    stale = await post_form(client, path, {"confirm_code": "acme"})
    assert stale.status_code in (302, 303) and stale.headers["location"].startswith("/reauth")  # type: ignore[attr-defined]
    await step_up(client, world.operator, path)
    page = await client.get(path)
    assert page.status_code == 200 and "すべてのデータを消去する" in page.text
    wrong = await post_form(client, path, {"confirm_code": "other"})
    assert wrong.status_code == 400 and "事業者コード「acme」を正しく入力してください" in wrong.text  # type: ignore[attr-defined]
    assert await count(db, TenantErasure) == 0

    done = await post_form(client, path, {"confirm_code": "ACME"})
    assert done.status_code in (302, 303)  # type: ignore[attr-defined]
    landing = await client.get(done.headers["location"])  # type: ignore[attr-defined]
    assert "データをすべて消去しました" in landing.text and "消去済" in landing.text
    for number in arranged.numbers.values():
        assert number not in landing.text and number[-4:] not in landing.text

    pdf = await client.get(f"/operator/tenants/{world.tenant.id}/erasure-certificate.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    erasure = (await db.execute(select(TenantErasure))).scalar_one()
    expected = ["削除証明書", "アクメ商事株式会社", "acme", "マイナンバー 3件", "本人確認書類画像 2件", "対象者 3名"]
    for words in [*expected, erasure.certificate_number, "暗号鍵の破棄", "運営者"]:
        assert words in text, words
    printed = [e for e in await entries(db, world.operator.tenant.id) if e.action == AuditAction.PRINT]
    assert printed and printed[-1].detail["certificate_number"] == erasure.certificate_number

    listing = await client.get("/operator/erasures")
    assert erasure.certificate_number in listing.text and "アクメ商事株式会社" in listing.text


async def test_the_certificate_of_a_tenant_not_erased_and_unknown_ids_are_404(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await sign_in(client, world.operator)
    for path in (
        f"/operator/tenants/{world.tenant.id}/erasure-certificate.pdf",
        f"/operator/tenants/{uuid.uuid4()}/erasure-certificate.pdf",
        f"/operator/tenants/{world.operator.tenant.id}/erasure",
        "/operator/tenants/not-an-id/erasure",
    ):
        assert (await client.get(path)).status_code == 404, path


async def test_during_the_grace_period_the_page_says_until_when(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, world: World
) -> None:
    await arrange(db, app, settings, world, ended_days_ago=5)
    await sign_in(client, world.operator)
    path = f"/operator/tenants/{world.tenant.id}/erasure"
    grace_end = format_date(today_in_japan() + dt.timedelta(days=GRACE - 5))
    assert f"猶予期間（{grace_end} まで）が終わるまで消去できません" in (await client.get(path)).text
    await step_up(client, world.operator, path)
    refused = await post_form(client, path, {"confirm_code": "acme"})
    assert refused.status_code == 400 and "猶予期間" in refused.text  # type: ignore[attr-defined]
    assert await count(db, TenantErasure) == 0


@pytest.mark.parametrize("persona", ["admin", "handler", "viewer", "employee", "other_admin"])
async def test_only_the_operator_reaches_the_screens(
    client: AsyncTestClient[Litestar], world: World, persona: str
) -> None:
    await sign_in(client, getattr(world, persona))
    for path in (
        f"/operator/tenants/{world.tenant.id}/erasure",
        f"/operator/tenants/{world.tenant.id}/erasure-certificate.pdf",
        "/operator/erasures",
    ):
        assert (await client.get(path)).status_code == 403, path
    posted = await post_form(client, f"/operator/tenants/{world.tenant.id}/erasure", {"confirm_code": "acme"})
    assert posted.status_code == 403  # type: ignore[attr-defined]


async def test_sign_in_is_refused_with_the_reason_and_open_sessions_end(
    app: Litestar, client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, world: World
) -> None:
    await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)
    await sign_in(client, world.viewer)
    assert (await client.get("/admin", follow_redirects=False)).status_code == 200

    await erase(db, app, settings, world.tenant.id)

    assert (await client.get("/admin", follow_redirects=False)).status_code in (302, 303)
    client.cookies.clear()
    response = await post_form(
        client, "/login", {"tenant_code": "acme", "login_id": "viewer", "password": world.viewer.password}
    )
    assert "この事業者の契約は終了し、データは消去されました。" in response.text  # type: ignore[attr-defined]
    wrong = await post_form(client, "/login", {"tenant_code": "acme", "login_id": "viewer", "password": "wrong"})
    assert "この事業者の契約は終了し" not in wrong.text  # type: ignore[attr-defined]


# Command line ---------------------------------------------------------------------------------------------------------


async def test_the_command_erases_and_prints_the_certificate_number(
    app: Litestar, db: AsyncSession, settings: Settings, world: World
) -> None:
    await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)
    await vault_of(app).wait_for_shredding()
    with pytest.raises(EraseCommandError, match="見つかりません"):
        await run_erase_tenant(settings, "nobody")
    settings_today = settings
    lines = await run_erase_tenant(settings_today, "acme")
    erasure = (await db.execute(select(TenantErasure))).scalar_one()
    assert any(erasure.certificate_number in line for line in lines)
    assert "マイナンバー 3件" in "\n".join(lines)
    assert (await run_erase_tenant(settings, "acme"))[0].endswith(
        f"すでに消去されています（{format_date(erasure.erased_at, time='minutes')}）"
    )


async def test_files_exchanged_with_an_office_and_box_file_names_go_with_the_tenant(
    app: Litestar, db: AsyncSession, settings: Settings, world: World
) -> None:
    from app.db import utcnow
    from partners.models import ExchangeFile, LinkSide, PersonBoxFile, exchange_blob_key

    arranged = await arrange(db, app, settings, world, ended_days_ago=GRACE + 1)
    office = Tenant(code="office1", name="佐藤社労士事務所", kind=TenantKind.PARTNER, status=TenantStatus.ACTIVE)
    db.add(office)
    await db.flush()
    file_id, now = new_id(), utcnow()
    token = await vault_of(app).seal_secret(db, world.tenant.id, file_id, "exchange-file", b"%PDF-1.4 meisai")
    await blob_store(settings).put(exchange_blob_key(world.tenant.id, file_id), token)
    db.add(ExchangeFile(
        tenant_id=world.tenant.id, id=file_id, partner_id=office.id, link_id=new_id(), batch_id=new_id(),
        sender_side=LinkSide.CLIENT, sender_name="岡 昌平", file_name="明細.pdf", content_type="application/pdf",
        size=15, sealed_size=len(token), sha256="0" * 64, created_at=now, updated_at=now,
    ))  # fmt: skip
    db.add(PersonBoxFile(
        tenant_id=world.tenant.id, person_id=next(iter(arranged.numbers)), document_id=arranged.documents[0],
        file_name="源泉徴収票.pdf", content_type="application/pdf", size=10, uploaded_by_side=LinkSide.CLIENT,
        uploaded_by_name="岡 昌平",
    ))  # fmt: skip
    await db.commit()

    await erase(db, app, settings, world.tenant.id)

    assert await count(db, ExchangeFile, ExchangeFile.tenant_id == world.tenant.id) == 0
    assert await count(db, PersonBoxFile, PersonBoxFile.tenant_id == world.tenant.id) == 0
    assert not (settings.effective_blob_dir / exchange_blob_key(world.tenant.id, file_id)).exists()
