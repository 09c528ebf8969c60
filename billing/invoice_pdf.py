"""The invoice PDF (issue 13): 請求書 / 適格返還請求書 in Japanese with reportlab. Owned by branch B2."""

from __future__ import annotations

from collections.abc import Sequence

from billing.models import Invoice, InvoiceLine


def invoice_pdf(invoice: Invoice, lines: Sequence[InvoiceLine]) -> bytes:
    """The PDF of an issued invoice or credit note (everything printed comes from its own, immutable rows)."""
    raise NotImplementedError
