"""What the people pages share (departments, employees, dependants, payees): who may edit, the pager's links, the
notice after a save.

Staff (admin, handler, viewer) read the lists; only admins and handlers add, edit or retire.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar.plugins.flash import flash

from app.auth.models import Role
from app.auth.principal import Principal
from app.text import format_date
from tenants.models import Person


def can_edit(principal: Principal) -> bool:
    """Whether the pages offer adding and editing (the routes check again with their guards)."""
    return principal.role in (Role.ADMIN, Role.HANDLER)


def can_erase(principal: Principal) -> bool:
    """Whether the pages offer erasing a number or changing a 削除予定日 (admins only; the routes check again)."""
    return principal.role is Role.ADMIN


def date_text(value: dt.date | None) -> str:
    """A date as a form field holds it (YYYY/MM/DD, ``app.text.format_date``), or empty."""
    return format_date(value)


def window_link(base: str, params: dict[str, str]) -> Callable[..., str]:
    """``link(**changes)`` for ``partials/pager.html``: the list's URL with its (non-empty) parameters and the page's
    (``page``, ``after``, ``before`` from ``app.paging.Window``)."""

    def link(**changes: Any) -> str:
        merged = {**params, **{key: str(value) for key, value in changes.items()}}
        if merged.get("page") == "1":
            merged.pop("page")
        kept = {key: value for key, value in merged.items() if value}
        return f"{base}?{urlencode(kept)}" if kept else base

    return link


def flash_saved(request: Request[Any, Any, Any], person: Person, changed: list[str]) -> None:
    """Say what a save did, warning when a confirmed number must be checked again."""
    if not changed:
        flash(request, "変更はありませんでした。", "info")
    elif person.identity_warning:
        flash(
            request,
            f"{person.name} さんの情報を更新しました。"
            "確認済みの番号があるため、番号が本人のものか確認し直してください。",
            "warning",
        )
    else:
        flash(request, f"{person.name} さんの情報を更新しました。", "success")
