"""The invoice PDF: what a qualified invoice must show, read back with pypdf."""

from __future__ import annotations

import datetime as dt
import io
import uuid

from pypdf import PdfReader

from billing.invoice_pdf import invoice_pdf
from billing.models import Invoice, InvoiceKind, InvoiceLine

REGISTRATION = "T1234567890123"
TENANT = uuid.uuid4()


def make_invoice(**overrides: object) -> Invoice:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": TENANT,
        "month": dt.date(2026, 11, 1),
        "kind": InvoiceKind.INVOICE,
        "sequence": 1,
        "number": "acme-202611-1",
        "corrects_id": None,
        "issued_on": dt.date(2026, 12, 1),
        "due_on": dt.date(2026, 12, 31),
        "period_start": dt.date(2026, 11, 1),
        "period_end": dt.date(2026, 11, 30),
        "member": True,
        "subtotal": 12_250,
        "tax": 1_225,
        "total": 13_475,
        "tax_rate_percent": 10,
        "customer_code": "acme",
        "customer_name": "𠮷野家髙﨑商事株式会社",
        "issuer_name": "運営商工会議所",
        "issuer_registration_number": REGISTRATION,
        "issuer_address": "〒100-0001 東京都千代田区千代田1-1",
        "issuer_phone": "03-1234-5678",
        "bank_details": "○○銀行 本店 普通 1234567\nカ）ウンエイ",
        "issued_by": "運営 太郎",
    }
    values.update(overrides)
    return Invoice(**values)


def make_lines(invoice: Invoice) -> list[InvoiceLine]:
    rows = [
        ("initial_fee", "初期費用（会員）", 1, 5_000),
        ("base", "基本料金（会員）", 1, 1_500),
        ("packs", "追加ID 5ユーザ（会員）", 3, 250),
        ("verification", "本人確認オプション（会員）", 1, 500),
        ("admin_seats", "追加管理者ID（会員）", 9, 500),
    ]
    return [
        InvoiceLine(
            tenant_id=invoice.tenant_id,
            id=uuid.uuid4(),
            invoice_id=invoice.id,
            position=position,
            item=item,
            description=description,
            quantity=quantity,
            unit_price=unit,
            amount=quantity * unit,
            tax_rate_percent=10,
        )
        for position, (item, description, quantity, unit) in enumerate(rows, start=1)
    ]


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "".join(page.extract_text() for page in reader.pages)


def test_an_invoice_shows_what_a_qualified_invoice_must_show() -> None:
    invoice = make_invoice()
    content = invoice_pdf(invoice, make_lines(invoice))
    assert content.startswith(b"%PDF")
    text = pdf_text(content)
    for expected in (
        "請求書",
        REGISTRATION,
        "𠮷野家髙﨑商事株式会社",
        "御中",
        "運営商工会議所",
        "acme-202611-1",
        "2026/12/01",  # 発行日
        "2026/11/01",  # 請求期間
        "2026/11/30",
        "2026/12/31",  # 支払期限
        "10%対象",
        "12,250円",
        "1,225円",
        "13,475円",
        "4,500円",  # 9 × 500
        "消費税",
        "振込先",
        "○○銀行",
    ):
        assert expected in text, expected
    assert "適格返還請求書" not in text


def test_a_credit_note_is_titled_as_one_and_names_the_cancelled_invoice() -> None:
    invoice = make_invoice(
        kind=InvoiceKind.CREDIT_NOTE,
        number="acme-202611-C1",
        corrects_id=uuid.uuid4(),
        subtotal=-12_250,
        tax=-1_225,
        total=-13_475,
    )
    content = invoice_pdf(invoice, [], cancels_number="acme-202611-1")
    text = pdf_text(content)
    assert "適格返還請求書" in text
    assert "acme-202611-1" in text
    assert "-13,475円" in text
    assert REGISTRATION in text
