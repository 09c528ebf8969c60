"""Form inputs of the operator console and the tenant's account pages."""

from __future__ import annotations

import msgspec


class TenantForm(msgspec.Struct, kw_only=True):
    code: str = ""
    name: str = ""
    name_kana: str = ""
    corporate_number: str = ""
    postal_code: str = ""
    address: str = ""
    representative: str = ""
    phone: str = ""
    is_member: str = ""
    status: str = "trial"
    trial_ends_on: str = ""
    contract_ends_on: str = ""
    admin_seats: str = "2"


class StaffForm(msgspec.Struct, kw_only=True):
    login_id: str = ""
    name: str = ""
    email: str = ""
    role: str = "handler"


class OperatorAdminForm(msgspec.Struct, kw_only=True):
    """The operator's form for a tenant's admin: only without an active admin (first setup or a requested
    recovery, whose request is recorded in ``recovery_request``)."""

    login_id: str = ""
    name: str = ""
    email: str = ""
    recovery_request: str = ""


class TenantSettingsForm(msgspec.Struct, kw_only=True):
    require_totp_for_employees: str = ""
    purpose_notice: str = ""  # the tenant's own words, added to the notice built from the purposes
    # One checkbox per purpose and audience: a single tick arrives as a string, several as a list.
    employee_purpose: list[str] | str = ""
    payee_purpose: list[str] | str = ""
    purposes_shown: str = ""  # the form carried the purpose checkboxes (an empty tick list then means none)
    # The company's details printed on certificates, filings and forms (郵便番号, 所在地, 代表者, 電話番号, 雇用保険
    # 適用事業所番号); ``office_shown``: the form carried these fields (empty ones then clear them).
    postal_code: str = ""
    address: str = ""
    representative: str = ""
    phone: str = ""
    employment_insurance_office_number: str = ""
    office_shown: str = ""

    @staticmethod
    def _listed(value: list[str] | str) -> list[str]:
        values = [value] if isinstance(value, str) else value
        return [v for v in values if v]

    @property
    def employee_purposes(self) -> list[str]:
        return self._listed(self.employee_purpose)

    @property
    def payee_purposes(self) -> list[str]:
        return self._listed(self.payee_purpose)


# People (部門, 従業員, 扶養家族, 取引先): admin pages


class DepartmentForm(msgspec.Struct, kw_only=True):
    code: str = ""
    name: str = ""


class EmployeeForm(msgspec.Struct, kw_only=True):
    employee_code: str = ""
    name: str = ""
    kana: str = ""
    birth_date: str = ""
    department_id: str = ""
    hire_date: str = ""
    retirement_date: str = ""
    social_insurance_acquired_on: str = ""
    social_insurance_lost_on: str = ""
    employment_insurance_acquired_on: str = ""
    employment_insurance_lost_on: str = ""
    email: str = ""
    # For filings (雇用保険被保険者個人番号登録・変更届): "male", "female" or "" (未設定), and the 被保険者番号.
    gender: str = ""
    employment_insurance_number: str = ""
    address: str = ""  # 住所 (a 社労士's 入社・住所変更 notices keep it; the filings' forms print it)


class RetireForm(msgspec.Struct, kw_only=True):
    retirement_date: str = ""


class DependantForm(msgspec.Struct, kw_only=True):
    name: str = ""
    kana: str = ""
    relationship: str = ""
    birth_date: str = ""


class PayeeForm(msgspec.Struct, kw_only=True):
    payee_type: str = ""
    name: str = ""
    kana: str = ""
    address: str = ""
    payment_kind: str = ""
    email: str = ""
    end_date: str = ""  # 取引終了日, kept as Person.retirement_date (the 削除予定日 rule's end date)


class DeletionDueForm(msgspec.Struct, kw_only=True):
    """削除予定日の変更 / 予定解除: the new date (西暦 or 和暦; unused when cancelling) and the reason."""

    due_on: str = ""
    reason: str = ""


class RetentionForm(msgspec.Struct, kw_only=True):
    """保存期間: one checkbox per purpose (``tenants.retention_rule.RetentionPurpose``); one tick: a string."""

    retention_purpose: list[str] | str = ""

    @property
    def chosen(self) -> list[str]:
        values = [self.retention_purpose] if isinstance(self.retention_purpose, str) else self.retention_purpose
        return [v for v in values if v]


class ConfidentialForm(msgspec.Struct, kw_only=True):
    """機密ファイルの閲覧 for one account: ``allowed`` is "1" to grant, anything else to take it away."""

    allowed: str = ""
