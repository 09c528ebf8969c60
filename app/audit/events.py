"""What an audit entry says: the action, who did it, to whom, why, with what result. Never a number."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any


class AuditAction(enum.StrEnum):
    """操作: the value is the Japanese label shown on screens and in exports."""

    LOGIN = "ログイン"
    LOGIN_FAILED = "ログイン失敗"
    LOGOUT = "ログアウト"
    REGISTER = "登録"
    PROXY_REGISTER = "代理登録"
    SELF_CONFIRM = "本人番号確認"
    ADMIN_CONFIRM = "管理者番号確認"
    VIEW = "閲覧"
    REVEAL = "表示"
    PRINT = "印刷"
    UPDATE = "修正"
    DELETE = "削除"
    DECLINE = "提供拒否"
    CSV_EXPORT = "CSV出力"
    IMPORT = "取込"
    SETTINGS_CHANGE = "設定変更"
    ACCOUNT_CHANGE = "アカウント変更"
    CORRECTION_REQUEST = "修正依頼"
    CORRECTION_APPROVE = "修正承認"
    VERIFICATION_APPROVE = "本人確認承認"
    VERIFICATION_REJECT = "本人確認差戻し"
    KEY_ROTATION = "鍵更新"
    LOG_ERASE = "履歴消去"
    MAINTENANCE = "定期保守"
    PARTNER_LINK = "社労士連携"
    PARTNER_ENTER = "顧問先での作業開始"
    FILE_SEND = "ファイル送信"
    FILE_DOWNLOAD = "ファイル受信"
    FILE_SAVE = "ファイル保存"
    FILE_DELETE = "ファイル削除"
    BOX_STORE = "個人ボックス保管"
    BOX_OPEN = "個人ボックス閲覧"
    BOX_DELETE = "個人ボックス削除"
    DOCUMENT_PUBLISH = "文書公開"
    DOCUMENT_DELETE = "文書削除"
    NOTICE_SEND = "連絡送信"
    NOTICE_APPLY = "台帳に反映"
    NOTICE_STATUS = "処理区分変更"
    NOTICE_DELETE = "連絡削除"


class AuditResult(enum.StrEnum):
    SUCCESS = "成功"
    FAILURE = "失敗"
    DENIED = "拒否"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a snapshot taken at the time (names and roles change later; the log must not)."""

    user_id: uuid.UUID | None
    login_id: str
    name: str
    role: str
    organisation: str
    ip: str | None = None
    user_agent: str | None = None
    # A 社労士事務所's staff member acting inside a client (partners/): the office's tenant id. The account then
    # belongs to the office, not to the tenant whose log this is.
    partner_id: uuid.UUID | None = None

    @classmethod
    def system(cls, what: str = "system") -> Actor:
        return cls(user_id=None, login_id=what, name="システム", role="system", organisation="")


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose number: person id plus a snapshot (dependants are named "employee > dependant")."""

    person_id: uuid.UUID | None
    name: str = ""
    department_code: str = ""
    department_name: str = ""
    employee_code: str = ""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry to append to a tenant's chain."""

    tenant_id: uuid.UUID
    action: AuditAction
    actor: Actor
    function: str
    subject: Subject | None = None
    purpose: str | None = None
    result: AuditResult = AuditResult.SUCCESS
    detail: dict[str, Any] = field(default_factory=dict)
