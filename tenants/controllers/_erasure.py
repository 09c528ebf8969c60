"""Erasing numbers (削除), early-deletion approvals and deletion certificates (削除証明書) (issue 11)."""

from __future__ import annotations

from litestar import Controller

from app.auth.principal import company_staff


class ErasureController(Controller):
    path = "/admin/erasure"
    guards = [company_staff]
    include_in_schema = False
