"""利用目的: the purposes a tenant notified to each kind of person, and the notice built from them.

番号法 allows a number to be used only within the purposes notified to the person it belongs to. Each tenant keeps
which purposes it notified to employees (with their dependants) and which to payees (``Tenant.notified_purposes``);
the notice employees read is built from that list plus the tenant's own words (``Tenant.purpose_notice``), and only
a notified purpose can be chosen for that kind of person (reveal, and every later place a purpose is chosen).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.tenancy import Tenant


class Audience(enum.StrEnum):
    """Who a purpose is notified to."""

    EMPLOYEE = "employee"  # employees and their dependants
    PAYEE = "payee"

    @property
    def label(self) -> str:
        return {"employee": "従業員・扶養家族", "payee": "取引先"}[self.value]


@dataclass(frozen=True, slots=True)
class Purpose:
    """One purpose of the catalogue and the audiences it can be notified to."""

    name: str
    audiences: frozenset[Audience]


_EMPLOYEE = frozenset({Audience.EMPLOYEE})
_PAYEE = frozenset({Audience.PAYEE})

CATALOGUE: tuple[Purpose, ...] = (
    Purpose("源泉徴収票作成事務", _EMPLOYEE),
    Purpose("給与支払報告書作成事務", _EMPLOYEE),
    Purpose("扶養控除等（異動）申告書作成事務", _EMPLOYEE),
    Purpose("雇用保険届出事務", _EMPLOYEE),
    Purpose("健康保険・厚生年金保険届出事務", _EMPLOYEE),
    Purpose("国民年金第3号被保険者届出事務", _EMPLOYEE),
    Purpose("報酬・料金等の支払調書作成事務", _PAYEE),
    Purpose("不動産使用料等の支払調書作成事務", _PAYEE),
    Purpose("財形住宅・年金貯蓄に関する事務", _EMPLOYEE),
)

PURPOSES: tuple[str, ...] = tuple(p.name for p in CATALOGUE)

DEFAULT_NOTIFIED: dict[Audience, tuple[str, ...]] = {
    Audience.EMPLOYEE: PURPOSES[:6],
    Audience.PAYEE: ("報酬・料金等の支払調書作成事務",),
}

NOTICE_TITLE = "個人番号（マイナンバー）の利用目的について"
_AUDIENCE_WORDS = {
    Audience.EMPLOYEE: "従業員およびその扶養家族",
    Audience.PAYEE: "報酬・料金等をお支払いする取引先の方",
}
_CLOSING = (
    "上記以外の目的で個人番号を利用することはありません。"
    "個人番号は暗号化して保管し、法令で定められた保存期間が過ぎた後は速やかに削除します。"
)


def catalogue_for(audience: Audience) -> list[str]:
    """The purposes that can be notified to that audience, in catalogue order."""
    return [p.name for p in CATALOGUE if audience in p.audiences]


def notified_purposes(tenant: Tenant, audience: Audience) -> list[str]:
    """The purposes the tenant notified to that audience (the defaults until it saved its own), catalogue order."""
    stored = tenant.notified_purposes
    chosen: Iterable[str] = DEFAULT_NOTIFIED[audience]
    if isinstance(stored, dict) and isinstance(stored.get(audience.value), list):
        chosen = stored[audience.value]
    allowed = set(chosen)
    return [name for name in catalogue_for(audience) if name in allowed]


def audience_of(kind: str) -> Audience:
    """Whose notice applies to a person kind: dependants were notified with the employee."""
    return Audience.PAYEE if kind == "payee" else Audience.EMPLOYEE


def purposes_for_kind(tenant: Tenant, kind: str) -> list[str]:
    """The purposes a number of that person kind may be used for (番号法: within the notified purposes)."""
    return notified_purposes(tenant, audience_of(kind))


def validate_selection(audience: Audience, chosen: Sequence[str]) -> tuple[list[str], str | None]:
    """The chosen purposes in catalogue order, or an error message (Japanese) when none or an unknown one."""
    allowed = catalogue_for(audience)
    unknown = [name for name in chosen if name not in allowed]
    if unknown:
        return [], f"{audience.label}の利用目的は一覧から選択してください。"
    picked = set(chosen)
    result = [name for name in allowed if name in picked]
    if not result:
        return [], f"{audience.label}に通知する利用目的を1つ以上選択してください。"
    return result, None


def render_notice(tenant: Tenant, audience: Audience = Audience.EMPLOYEE) -> str:
    """The 利用目的の通知 as people read it: the notified purposes plus the tenant's own words.

    Paragraphs are separated by a blank line; the employee's notice page and the settings preview both show this.
    """
    purposes = notified_purposes(tenant, audience)
    lines = "\n".join(f"{index}. {name}" for index, name in enumerate(purposes, start=1))
    parts = [
        NOTICE_TITLE,
        f"{tenant.name}は、行政手続における特定の個人を識別するための番号の利用等に関する法律（番号法）に基づき、"
        f"{_AUDIENCE_WORDS[audience]}の個人番号を、次の事務のために取得し、利用します。",
        lines,
    ]
    own_words = (tenant.purpose_notice or "").strip()
    if own_words and audience is Audience.EMPLOYEE:
        parts.append(own_words)
    parts.append(_CLOSING)
    return "\n\n".join(parts)


def notice_text(tenant: Tenant) -> str:
    """The notice employees read before registering (``render_notice`` for employees)."""
    return render_notice(tenant, Audience.EMPLOYEE)


__all__ = [
    "CATALOGUE",
    "DEFAULT_NOTIFIED",
    "PURPOSES",
    "Audience",
    "Purpose",
    "audience_of",
    "catalogue_for",
    "notice_text",
    "notified_purposes",
    "purposes_for_kind",
    "render_notice",
    "validate_selection",
]
