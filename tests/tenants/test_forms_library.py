"""様式集 (/admin/forms): each form downloads as a .docx that python-docx opens, filled with the tenant's own name
(異体字 kept), the お知らせ with the purposes the tenant notified; the 中小規模事業者 規程 differs from the general one;
who may download; another tenant gets its own name only; LibreOffice converts a form to PDF."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

import docx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from app.tenancy import Tenant
from tenants.forms_library import DOCX_MEDIA_TYPE, FORMS
from tenants.purposes import Audience, catalogue_for
from tests.support.audit import entries
from tests.support.world import World, sign_in

Client = AsyncTestClient[Litestar]
VARIANT_NAME = "𠮷野髙﨑商事株式会社"


def text_of(content: bytes) -> str:
    """Every paragraph and table cell of a .docx, opened with python-docx."""
    document = docx.Document(BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(parts)


async def rename(db: AsyncSession, tenant: Tenant, **values: object) -> None:
    stored = await db.get(Tenant, tenant.id)
    assert stored is not None
    for key, value in values.items():
        setattr(stored, key, value)
    await db.commit()


async def download(client: Client, code: str) -> str:
    response = await client.get(f"/admin/forms/{code}.docx")
    assert response.status_code == 200, (code, response.status_code)
    assert response.headers["content-type"].startswith(DOCX_MEDIA_TYPE)
    assert response.headers["cache-control"] == "no-store"
    return text_of(response.content)


async def test_the_page_lists_every_form_with_a_download_link(client: Client, world: World) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/forms")
    assert page.status_code == 200
    for form in FORMS:
        assert form.title in page.text
        assert f'href="/admin/forms/{form.code}.docx"' in page.text
    assert 'href="/admin/forms"' in page.text  # in the menu


async def test_each_form_opens_with_python_docx_and_names_the_tenant_with_its_variant_kanji(
    client: Client, world: World, db: AsyncSession
) -> None:
    await rename(
        db,
        world.tenant,
        name=VARIANT_NAME,
        representative="髙橋 一郎",
        address="東京都千代田区丸の内1-1",
        phone="03-1234-5678",
    )
    await sign_in(client, world.admin)
    entries_before = len(await entries(db, world.tenant.id))  # the sign-in's
    for form in FORMS:
        response = await client.get(f"/admin/forms/{form.code}.docx")
        assert response.status_code == 200
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert f"filename*=UTF-8''{quote(form.filename, safe='')}" in disposition
        text = text_of(response.content)
        assert VARIANT_NAME in text, form.code
        if not form.code.startswith("handling-rules"):  # a 規程 names the company only
            assert "髙橋 一郎" in text, form.code
    policy = await download(client, "basic-policy")
    assert "東京都千代田区丸の内1-1" in policy and "03-1234-5678" in policy
    # The forms hold no one's personal data: downloading them is not an operation on numbers.
    assert len(await entries(db, world.tenant.id)) == entries_before


async def test_the_notice_lists_each_purpose_the_tenant_notified_to_employees(
    client: Client, world: World, db: AsyncSession
) -> None:
    chosen = [catalogue_for(Audience.EMPLOYEE)[0], "国民年金第3号被保険者届出事務", "財形住宅・年金貯蓄に関する事務"]
    await rename(
        db, world.tenant, notified_purposes={"employee": chosen, "payee": []}, purpose_notice="総務部までどうぞ。"
    )
    await sign_in(client, world.handler)
    text = await download(client, "employee-notice")
    for purpose in chosen:
        assert purpose in text
    assert "雇用保険届出事務" not in text  # a default purpose the tenant did not notify
    assert "総務部までどうぞ。" in text
    assert "アクメ商事株式会社" in text


async def test_the_small_business_rules_differ_from_the_general_rules(client: Client, world: World) -> None:
    await sign_in(client, world.admin)
    general = await download(client, "handling-rules")
    small = await download(client, "handling-rules-small")
    assert "中小規模事業者" in small and "中小規模事業者" not in general
    for only_general in (
        "特定個人情報ファイル管理台帳",
        "運用状況の記録",
        "（点検及び監査）",
        "アクセス者の識別と認証",
    ):
        assert only_general in general and only_general not in small, only_general
    for both in ("第1条", "本人確認", "番号法第16条", "委託先の監督", "外的環境の把握", "削除"):
        assert both in general and both in small, both


async def test_viewers_and_employees_are_refused(client: Client, world: World) -> None:
    for persona in (world.viewer, world.employee):
        await sign_in(client, persona)
        assert (await client.get("/admin/forms", follow_redirects=False)).status_code == 403
        assert (await client.get("/admin/forms/basic-policy.docx", follow_redirects=False)).status_code == 403


async def test_anonymous_is_sent_to_sign_in(client: Client, world: World) -> None:
    response = await client.get("/admin/forms/basic-policy.docx", follow_redirects=False)
    assert response.status_code in {302, 303}


async def test_another_tenant_gets_its_own_name_only(client: Client, world: World) -> None:
    await sign_in(client, world.other_admin)
    text = await download(client, "confidentiality-pledge")
    assert world.other_tenant.name in text
    assert world.tenant.name not in text


async def test_an_unknown_form_is_not_found(client: Client, world: World) -> None:
    await sign_in(client, world.admin)
    for path in ("nothing.docx", "basic-policy", "basic-policy.pdf", "BASIC-POLICY.docx", ".docx"):
        assert (await client.get(f"/admin/forms/{path}")).status_code == 404, path


# LibreOffice (Debian's libreoffice-writer-nogui, installed by .ci/run) opens a form and prints it as PDF.

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
WRITER = SOFFICE is not None and any(
    Path(folder, "libswlo.so").exists() for folder in ("/usr/lib/libreoffice/program", "/opt/libreoffice/program")
)
if not WRITER and os.environ.get("MNV_REQUIRE_LIBREOFFICE") == "1":
    raise RuntimeError(
        "MNV_REQUIRE_LIBREOFFICE=1 but LibreOffice Writer is missing: apt-get install libreoffice-writer-nogui"
    )


# The Japanese font the app ships (app/fonts, Noto Sans JP) added to fontconfig's search for the conversion, so the
# PDF's text does not depend on the machine having a CJK font installed (without one, LibreOffice falls back to a
# font with no Japanese glyphs and the PDF's text comes out as one repeated character).
APP_FONTS = Path(__file__).resolve().parents[2] / "app" / "fonts"


def _fontconfig(folder: Path) -> Path:
    """A fontconfig file: the system's configuration (when there is one) and the app's fonts."""
    system = Path("/etc/fonts/fonts.conf")
    include = f"<include ignore_missing='yes'>{system}</include>" if system.exists() else ""
    config = folder / "fonts.conf"
    config.write_text(
        f"<?xml version='1.0'?><!DOCTYPE fontconfig SYSTEM 'fonts.dtd'><fontconfig>{include}"
        f"<dir>{APP_FONTS}</dir><cachedir>{folder / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    return config


def _convert_to_pdf(source: Path, out: Path) -> Path:
    """LibreOffice's headless conversion, with its own profile (as tests/exchange/test_libreoffice.py runs it) and
    the app's Japanese font available (``_fontconfig``)."""
    assert SOFFICE is not None
    environment = {**os.environ, "FONTCONFIG_FILE": str(_fontconfig(source.parent))}
    command = [
        SOFFICE,
        "--headless",
        "--norestore",
        f"-env:UserInstallation={(out.parent / 'profile').as_uri()}",
        "--convert-to",
        "pdf",
        "--outdir",
        str(out),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False, env=environment)
    assert done.returncode == 0, done.stderr
    converted = out / f"{source.stem}.pdf"
    assert converted.exists(), done.stdout + done.stderr
    return converted


@pytest.mark.skipif(not WRITER, reason="LibreOffice Writer is not installed (apt-get install libreoffice-writer-nogui)")
async def test_libreoffice_converts_a_form_to_pdf(client: Client, world: World, tmp_path: Path) -> None:
    await sign_in(client, world.admin)
    response = await client.get("/admin/forms/handling-rules.docx")
    source = tmp_path / "rules.docx"
    source.write_bytes(response.content)
    converted = await asyncio.to_thread(_convert_to_pdf, source, tmp_path / "out")
    pdf_text = "".join(page.extract_text() for page in PdfReader(converted).pages)
    assert "特定個人情報取扱規程" in pdf_text
    assert world.tenant.name in pdf_text
