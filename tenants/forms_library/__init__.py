"""様式集 (forms library): editable Word files filled with the tenant's name, address and representative.

Each form is our own text, written for the current 個人情報保護委員会「特定個人情報の適正な取扱いに関する
ガイドライン（事業者編）」 and 番号法; blanks (＿＿＿＿) are left for what the tenant fills in. A form holds no one's
personal data, so building or downloading one writes no audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.tenancy import Tenant
from app.workers import DOCUMENTS, run_in_worker
from tenants.forms_library import _letters, _policy, _rules
from tenants.forms_library._context import FormContext

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True, slots=True)
class FormDocument:
    """One form of the library: its code (the URL), title, what it is for, and the function that writes it."""

    code: str
    title: str
    description: str
    builder: Callable[[FormContext], bytes]

    @property
    def filename(self) -> str:
        return f"{self.title}.docx"


FORMS: tuple[FormDocument, ...] = (
    FormDocument(
        "basic-policy",
        _policy.TITLE,
        "特定個人情報等の取扱いについて事業者として取り組む方針（名称、法令・ガイドラインの遵守、安全管理措置、"
        "質問・苦情の窓口）。社内への掲示やウェブでの公表に使います。",
        _policy.build,
    ),
    FormDocument(
        "handling-rules",
        _rules.TITLE,
        "取得・利用・保管・提供・削除の各段階の取扱いと、組織的・人的・物理的・技術的安全管理措置を定める規程"
        "（管理台帳、運用状況の記録、監査を含む一般の事業者向け）。",
        _rules.build_general,
    ),
    FormDocument(
        "handling-rules-small",
        _rules.TITLE_SMALL,
        "従業員100人以下の中小規模事業者向けの規程。ガイドラインが認める特例的な対応方法（責任者による確認・点検、"
        "取扱状況の分かる記録など）で定めます。",
        _rules.build_small,
    ),
    FormDocument(
        "employee-notice",
        _letters.NOTICE_TITLE,
        "従業員へのお知らせ。設定画面で従業員に通知した利用目的と本人確認書類、提出方法を記載します。",
        _letters.build_notice,
    ),
    FormDocument(
        "confidentiality-pledge",
        _letters.PLEDGE_TITLE,
        "事務取扱担当者に指名するときに提出してもらう誓約書（規程の遵守、目的外利用の禁止、秘密保持、事故の報告）。",
        _letters.build_pledge,
    ),
    FormDocument(
        "retirement-pledge",
        _letters.RETIREMENT_TITLE,
        "特定個人情報等を取り扱った人が退職するときの誓約書（資料の返還・消去、退職後の秘密保持）。",
        _letters.build_retirement_pledge,
    ),
    FormDocument(
        "proxy-spouse-pension",
        f"{_letters.PROXY_TITLE}（国民年金第3号被保険者関係届）",
        "配偶者（国民年金第3号被保険者）が、従業員を代理人として事業者に個人番号を提供するための委任状。",
        _letters.build_proxy,
    ),
)

_BY_CODE = {form.code: form for form in FORMS}


def find_form(code: str) -> FormDocument | None:
    """The form with that code, or None."""
    return _BY_CODE.get(code)


def build_form(form: FormDocument, tenant: Tenant, today: dt.date) -> bytes:
    """The .docx bytes of ``form`` filled for ``tenant``, dated ``today`` (a JST day)."""
    return form.builder(FormContext.of(tenant, today))


async def render_form(
    form: FormDocument, tenant: Tenant, today: dt.date, *, releasing: AsyncSession | None = None
) -> bytes:
    """``build_form`` off the event loop (python-docx is pure Python: tens of milliseconds per form); ``releasing``:
    the caller's session, its connection handed back while the form waits its turn (``app.workers``)."""
    return await run_in_worker(DOCUMENTS, form.builder, FormContext.of(tenant, today), releasing=releasing)


__all__ = ["DOCX_MEDIA_TYPE", "FORMS", "FormContext", "FormDocument", "build_form", "find_form", "render_form"]
