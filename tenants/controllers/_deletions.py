"""削除管理: the deletion list (削除予定日, extraction filters, 予定解除) (issue 11)."""

from __future__ import annotations

from litestar import Controller

from app.auth.principal import company_staff


class DeletionsController(Controller):
    path = "/admin/deletions"
    guards = [company_staff]
    include_in_schema = False
