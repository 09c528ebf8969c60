"""届出書の印刷 (issue 15): 雇用保険被保険者個人番号登録・変更届 PDFs, and the fields they need on the forms.

The number is opened only while the PDF is built: it is in the response and nowhere else (rows, key store, log
lines, files). One 印刷 entry per person with the purpose; step-up and purpose required; admins, handlers and a
partner's staff with 番号の取扱い only; another tenant's ids give 404.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import docx
import pypdf
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import AuditAction
from app.auth import sessions as sessions_module
from app.config import Settings
from app.tenancy import Tenant
from app.vault import Vault
from partners.models import LinkPower
from tenants.filing_forms import era_code
from tenants.models import Person
from tenants.services._filings import FILING_FUNCTION
from tests.support.audit import entries
from tests.support.partners import make_link, make_office
from tests.support.people import give_number, make_employee, valid_my_number
from tests.support.world import World, csrf_token, post_form, sign_in, step_up

Client = AsyncTestClient[Litestar]
PATH = "/admin/filings/employment-insurance-number"
PURPOSE = "雇用保険届出事務"
OFFICE_NUMBER = "13011234567"


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """A vault for arranging (the app's lives on its own connections)."""
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def ready_employee(
    db: AsyncSession, vault: Vault, tenant_id: object, code: str, name: str, kana: str, insured: str, seed: int
) -> tuple[Person, str]:
    person = await make_employee(db, tenant_id, code, name, kana=kana, birth_date=dt.date(1990, 4, 1))
    person.gender = "female"
    person.employment_insurance_number = insured
    number = valid_my_number(seed)
    await give_number(db, vault, person, number)
    await db.commit()
    return person, number


async def arrange(db: AsyncSession, vault: Vault, world: World) -> list[tuple[Person, str]]:
    tenant = await db.get(Tenant, world.tenant.id)
    assert tenant is not None
    tenant.employment_insurance_office_number = OFFICE_NUMBER
    tenant.address = "東京都千代田区丸の内1-1"
    tenant.representative = "代表取締役 岡 昌平"
    await db.commit()
    return [
        await ready_employee(db, vault, world.tenant.id, "E001", "雇保 花子", "コホ ハナコ", "12345678901", 1501),
        await ready_employee(db, vault, world.tenant.id, "E002", "届出 次郎", "トドケデ ジロウ", "98765432109", 1502),
    ]


async def print_filings(client: Client, people: list[Person], **fields: str) -> object:
    data: dict[str, str | list[str]] = {"kind": "1", "purpose": PURPOSE, **fields}
    data["person"] = [str(p.id) for p in people]
    data["_csrf_token"] = await csrf_token(client)
    return await client.post(f"{PATH}/print", data=data, follow_redirects=False, headers={"Accept-Encoding": "gzip"})


def pdf_text(content: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages]


async def printed(db: AsyncSession, world: World) -> list[object]:
    return list(await entries(db, world.tenant.id, AuditAction.PRINT))


def files_with(
    directory: Path, needles: list[bytes], since: float | None = None, skip: tuple[Path, ...] = ()
) -> list[Path]:
    found = []
    for root, folders, names in os.walk(directory):
        folders[:] = [folder for folder in folders if Path(root) / folder not in skip]
        for name in names:
            path = Path(root) / name
            try:
                if since is not None and path.stat().st_mtime < since:
                    continue
                content = path.read_bytes()
            except OSError:
                continue
            if any(needle in content for needle in needles):
                found.append(path)
    return found


def other_runs(settings: Settings) -> tuple[Path, ...]:
    """Other test runs' trees in the temporary directory (CI runs the two databases' passes side by side, with the
    same numbers): not this test's to answer for."""
    ours = Path(settings.data_dir).resolve()
    return tuple(
        path
        for path in Path(tempfile.gettempdir()).iterdir()
        if path.name.startswith(("mnv-pytest-", "pytest-of-"))
        and path.is_dir()
        and not ours.is_relative_to(path.resolve())
    )


# The filing ---------------------------------------------------------------------------------------------------------


async def test_it_prints_one_page_per_person_and_keeps_the_number_nowhere(
    client: Client,
    world: World,
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    people = await arrange(db, vault, world)
    started = time.time()
    caplog.set_level(logging.DEBUG)
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    page = await client.get(PATH)
    assert page.status_code == 200 and "雇保 花子" in page.text and "1234-567890-1" in page.text
    assert all(number not in page.text for _, number in people)

    response = await print_filings(client, [p for p, _ in people])
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/pdf"  # type: ignore[attr-defined]
    assert response.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    assert "content-encoding" not in response.headers  # type: ignore[attr-defined]
    pages = pdf_text(response.content)  # type: ignore[attr-defined]
    assert len(pages) == 2
    for text, (person, number), insured in zip(pages, people, ("12345678901", "98765432109"), strict=True):
        assert number in text and person.kana in text and insured in text
        assert "アクメ商事株式会社" in text and OFFICE_NUMBER in text
        assert "雇用保険被保険者個人番号登録・変更届" in text and "4 020401" in text  # 平成2年4月1日

    logged = await printed(db, world)
    assert [e.subject_person_id for e in logged] == [p.id for p, _ in people]  # type: ignore[attr-defined]
    assert all(e.purpose == PURPOSE for e in logged)  # type: ignore[attr-defined]
    assert all(e.function == FILING_FUNCTION for e in logged)  # type: ignore[attr-defined]

    numbers = [number for _, number in people]
    every_entry = " ".join(repr((e.detail, e.subject_name)) for e in await entries(db, world.tenant.id))
    assert all(number not in every_entry for number in numbers)
    lines = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    assert all(number not in lines for number in numbers)
    needles = [n.encode() for n in numbers] + [n.encode("utf-16-be") for n in numbers]
    assert files_with(Path(tempfile.gettempdir()), needles, since=started, skip=other_runs(settings)) == []
    if settings.is_sqlite:
        await db.close()
        assert files_with(Path(settings.data_dir), needles) == []
        assert files_with(Path(settings.data_dir), [b"**********"])  # the scan does read the databases


async def test_a_change_prints_kind_2_with_the_previous_number_blank(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    people = await arrange(db, vault, world)
    await sign_in(client, world.handler)
    await step_up(client, world.handler)
    response = await print_filings(client, [people[0][0]], kind="2")
    assert response.status_code == 200  # type: ignore[attr-defined]
    (text,) = pdf_text(response.content)  # type: ignore[attr-defined]
    assert "2 1 新規　2 変更" in text and text.count(people[0][1]) == 1


def test_the_birth_date_is_the_era_code_and_yymmdd() -> None:
    assert era_code(dt.date(1990, 4, 1)) == ("4", "020401")
    assert era_code(dt.date(1989, 1, 7)) == ("3", "640107")
    assert era_code(dt.date(2019, 5, 1)) == ("5", "010501")


async def test_it_needs_a_fresh_step_up(
    client: Client, world: World, db: AsyncSession, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    real_now = sessions_module.now_ts
    monkeypatch.setattr(sessions_module, "now_ts", lambda: real_now() + 6 * 60)  # the sign-in's step-up is stale
    page = await client.get(PATH, follow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/reauth")
    response = await print_filings(client, [p for p, _ in people])
    assert response.status_code in (302, 303)  # type: ignore[attr-defined]
    assert response.headers["location"].startswith("/reauth")  # type: ignore[attr-defined]
    assert await printed(db, world) == []


async def test_it_needs_a_notified_purpose(client: Client, world: World, db: AsyncSession, vault: Vault) -> None:
    people = await arrange(db, vault, world)
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    for purpose in ("", "報酬・料金等の支払調書作成事務"):
        response = await print_filings(client, [p for p, _ in people], purpose=purpose)
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert "利用目的を一覧から選択してください" in response.text  # type: ignore[attr-defined]
        assert all(number not in response.text for _, number in people)  # type: ignore[attr-defined]
    kind = await print_filings(client, [p for p, _ in people], kind="3")
    assert kind.status_code == 400 and "届出区分" in kind.text  # type: ignore[attr-defined]
    nobody = await print_filings(client, [])
    assert nobody.status_code == 400 and "印刷する従業員を一覧で選択してください" in nobody.text  # type: ignore[attr-defined]
    assert await printed(db, world) == []


async def test_it_names_who_cannot_be_printed_and_prints_nothing(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    people = await arrange(db, vault, world)
    lacking = await make_employee(db, world.tenant.id, "E003", "未設 三郎", kana="ミセツ サブロウ")
    await give_number(db, vault, lacking, valid_my_number(1503))
    numberless = await make_employee(db, world.tenant.id, "E004", "番無 四郎", kana="バンナシ シロウ")
    numberless.gender, numberless.employment_insurance_number = "male", "11112222333"
    await db.commit()
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    page = await client.get(PATH)
    assert "被保険者番号が未設定・性別が未設定" in page.text and "個人番号が未登録" in page.text
    response = await print_filings(client, [people[0][0], lacking, numberless])
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "未設 三郎（被保険者番号が未設定、性別が未設定）" in response.text  # type: ignore[attr-defined]
    assert "番無 四郎（個人番号が未登録）" in response.text  # type: ignore[attr-defined]
    assert await printed(db, world) == []


async def test_it_needs_the_office_number(client: Client, world: World, db: AsyncSession, vault: Vault) -> None:
    people = await arrange(db, vault, world)
    tenant = await db.get(Tenant, world.tenant.id, populate_existing=True)
    assert tenant is not None
    tenant.employment_insurance_office_number = ""
    await db.commit()
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    response = await print_filings(client, [people[0][0]])
    assert response.status_code == 400 and "適用事業所番号が未設定" in response.text  # type: ignore[attr-defined]
    assert await printed(db, world) == []


# Isolation and roles ------------------------------------------------------------------------------------------------


async def test_another_tenants_people_give_404_and_nothing(
    client: Client, world: World, db: AsyncSession, vault: Vault
) -> None:
    people = await arrange(db, vault, world)
    stranger, stranger_number = await ready_employee(
        db, vault, world.other_tenant.id, "X001", "他社 一郎", "タシャ イチロウ", "55556666777", 1599
    )
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    assert "他社 一郎" not in (await client.get(PATH)).text
    response = await print_filings(client, [people[0][0], stranger])
    assert response.status_code == 404  # type: ignore[attr-defined]
    assert stranger_number not in response.text and "他社" not in response.text  # type: ignore[attr-defined]
    assert await printed(db, world) == []
    assert list(await entries(db, world.other_tenant.id, AuditAction.PRINT)) == []


async def test_a_viewer_may_not_print(client: Client, world: World, db: AsyncSession, vault: Vault) -> None:
    people = await arrange(db, vault, world)
    await sign_in(client, world.viewer)
    await step_up(client, world.viewer)
    assert (await client.get(PATH)).status_code == 403
    assert (await print_filings(client, [people[0][0]])).status_code == 403  # type: ignore[attr-defined]
    assert await printed(db, world) == []


@pytest.mark.parametrize(("power", "allowed"), [(LinkPower.NUMBERS, True), (LinkPower.VIEW, False)])
async def test_partner_staff_print_inside_a_client_only_with_the_numbers_power(
    app: Litestar,
    client: Client,
    world: World,
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    power: LinkPower,
    allowed: bool,
) -> None:
    people = await arrange(db, vault, world)
    office = await make_office(db, settings, app.state["vault"])
    await make_link(db, world.tenant, office.tenant, power)
    await sign_in(client, office.staff)
    await step_up(client, office.staff)
    await post_form(client, f"/partner/clients/{world.tenant.id}/enter")
    response = await print_filings(client, [people[0][0]])
    if allowed:
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert people[0][1] in pdf_text(response.content)[0]  # type: ignore[attr-defined]
        (entry,) = await printed(db, world)
        assert entry.actor_partner_id == office.tenant.id  # type: ignore[attr-defined]
    else:
        assert response.status_code in (403, 404)  # type: ignore[attr-defined]
        assert await printed(db, world) == []


# The input forms ----------------------------------------------------------------------------------------------------


async def test_the_employee_form_keeps_gender_and_the_insurance_number(
    client: Client, world: World, db: AsyncSession
) -> None:
    person = await make_employee(db, world.tenant.id, "E010", "入力 太郎", kana="ニュウリョク タロウ")
    await db.commit()
    await sign_in(client, world.admin)
    form = {"employee_code": "E010", "name": "入力 太郎", "kana": "ニュウリョク タロウ", "birth_date": "1985/04/01"}
    wrong = await post_form(
        client, f"/admin/people/{person.id}/edit", {**form, "gender": "other", "employment_insurance_number": "1234"}
    )
    assert wrong.status_code == 400  # type: ignore[attr-defined]
    assert "被保険者番号は11桁の数字で入力してください" in wrong.text  # type: ignore[attr-defined]
    assert "性別は「男」「女」「未設定」から選択してください" in wrong.text  # type: ignore[attr-defined]
    saved = await post_form(
        client,
        f"/admin/people/{person.id}/edit",
        {**form, "gender": "male", "employment_insurance_number": "１２３４－５６７８９０－１"},
    )
    assert saved.status_code == 302  # type: ignore[attr-defined]
    stored = (
        await db.execute(select(Person).where(Person.id == person.id).execution_options(populate_existing=True))
    ).scalar_one()
    assert (stored.gender, stored.employment_insurance_number) == ("male", "12345678901")
    edit = await client.get(f"/admin/people/{person.id}/edit")
    assert 'value="1234-567890-1"' in edit.text
    detail = await client.get(f"/admin/people/{person.id}")
    assert "1234-567890-1" in detail.text and "<td>男</td>" in detail.text
    cleared = await post_form(client, f"/admin/people/{person.id}/edit", {**form, "gender": ""})
    assert cleared.status_code == 302  # type: ignore[attr-defined]
    await db.refresh(stored)
    assert (stored.gender, stored.employment_insurance_number) == (None, None)


async def test_the_settings_keep_the_office_number(client: Client, world: World, db: AsyncSession) -> None:
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    wrong = await post_form(
        client, "/admin/settings/", {"office_shown": "1", "employment_insurance_office_number": "1301-12345-67x"}
    )
    assert wrong.status_code == 400  # type: ignore[attr-defined]
    assert "適用事業所番号は11桁の数字で入力してください" in wrong.text  # type: ignore[attr-defined]
    saved = await post_form(
        client, "/admin/settings/", {"office_shown": "1", "employment_insurance_office_number": "1301-123456-7"}
    )
    assert saved.status_code == 302  # type: ignore[attr-defined]
    tenant = await db.get(Tenant, world.tenant.id, populate_existing=True)
    assert tenant is not None and tenant.employment_insurance_office_number == "13011234567"
    assert 'value="1301-123456-7"' in (await client.get("/admin/settings/")).text


async def test_the_admin_keeps_the_company_details_printed_on_certificates_and_forms(
    client: AsyncTestClient[Litestar], world: World, db: AsyncSession
) -> None:
    await sign_in(client, world.admin)
    await step_up(client, world.admin)
    details = {
        "office_shown": "1",
        "postal_code": "１００－０００１",
        "address": "東京都千代田区千代田1-1 髙﨑ビル3F",
        "representative": "代表取締役 𠮷野 太郎",
        "phone": "03-1234-5678",
        "employment_insurance_office_number": "",
    }
    too_long = await post_form(client, "/admin/settings/", {**details, "address": "長" * 301})
    assert too_long.status_code == 400  # type: ignore[attr-defined]
    assert "所在地" in too_long.text  # type: ignore[attr-defined]
    saved = await post_form(client, "/admin/settings/", details)
    assert saved.status_code == 302  # type: ignore[attr-defined]
    tenant = await db.get(Tenant, world.tenant.id, populate_existing=True)
    assert tenant is not None
    assert (tenant.postal_code, tenant.address, tenant.representative, tenant.phone) == (
        "100-0001",
        "東京都千代田区千代田1-1 髙﨑ビル3F",
        "代表取締役 𠮷野 太郎",
        "03-1234-5678",
    )
    page = (await client.get("/admin/settings/")).text
    assert "𠮷野 太郎" in page and "髙﨑ビル3F" in page
    pledge = await client.get("/admin/forms/confidentiality-pledge.docx")
    assert pledge.status_code == 200
    document = docx.Document(io.BytesIO(pledge.content))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    assert "𠮷野 太郎" in "\n".join([p.text for p in document.paragraphs] + cells)
