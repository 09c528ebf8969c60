"""The seed layout (seed 003's CSV) and the full layout: one row per person."""

from __future__ import annotations

from collections.abc import Mapping

from exchange.layouts._base import (
    ADMIN_CONFIRMED_ON,
    BIRTH_DATE,
    CORPORATE_NUMBER,
    DEPARTMENT_CODE,
    DEPARTMENT_NAME,
    DEPENDANT_NAME,
    DEPENDANT_NO,
    EMPLOYEE_CODE,
    EMPLOYEE_NAME,
    ISSUED_ON,
    KANA,
    MY_NUMBER,
    REGISTERED_ON,
    RELATIONSHIP,
    ROLE,
    ROLE_CHOICES,
    SKIP,
    STATUS,
    Layout,
    columns_of,
    date_or_none,
    int_or_none,
    text_of,
)
from exchange.records import Entry, FamilyRecord, PersonRecord, Role


class SeedLayout(Layout):
    """Seed 003's CSV: employees and their dependants, one row each."""

    name = "seed"
    title = "基本（マイナンバー一覧）"
    roles = frozenset({Role.EMPLOYEE})
    columns = (SKIP, EMPLOYEE_CODE, EMPLOYEE_NAME, DEPENDANT_NO, DEPENDANT_NAME, ISSUED_ON, MY_NUMBER)

    def values(self, family: FamilyRecord) -> list[dict[str, object]]:
        self._check_role(family)
        head = family.head
        common = {"employee_code": family.employee_code, "employee_name": head.name}
        rows: list[dict[str, object]] = [{**common, **_number_values(head)}]
        for number, dependant in enumerate(family.dependants, start=1):
            rows.append(
                {**common, "dependant_no": number, "dependant_name": dependant.name, **_number_values(dependant)}
            )
        return rows

    def entries(self, line: int, values: Mapping[str, object]) -> list[Entry]:
        dependant_no = int_or_none(values.get("dependant_no"))
        is_dependant = dependant_no is not None or bool(values.get("dependant_name"))
        name_column = DEPENDANT_NAME if is_dependant else EMPLOYEE_NAME
        person = PersonRecord(
            name=text_of(values, name_column.key),
            my_number=text_of(values, "my_number"),
            number_issued_on=date_or_none(values.get("number_issued_on")),
            skip=bool(values.get("skip")),
        )
        return [
            Entry(
                line=line,
                role=Role.DEPENDANT if is_dependant else Role.EMPLOYEE,
                person=person,
                employee_code=text_of(values, "employee_code"),
                employee_name=text_of(values, "employee_name") if is_dependant else "",
                dependant_no=dependant_no,
                columns=_SEED_COLUMNS[is_dependant],
            )
        ]


# Where each entry's values come from, by whether the row is a dependant's (shared, never changed).
_SEED_COLUMNS = {
    dependant: columns_of((EMPLOYEE_CODE, ISSUED_ON, MY_NUMBER, DEPENDANT_NO), name=name)
    for dependant, name in ((False, EMPLOYEE_NAME), (True, DEPENDANT_NAME))
}


def _number_values(person: PersonRecord) -> dict[str, object]:
    return {"skip": person.skip, "number_issued_on": person.number_issued_on, "my_number": person.my_number}


class FullLayout(Layout):
    """Everything the service knows about a person that a payroll or HR file may want, one row per person."""

    name = "full"
    title = "詳細（部門・フリガナ・生年月日・続柄・取引先を含む）"
    roles = frozenset({Role.EMPLOYEE, Role.PAYEE})
    columns = (
        SKIP,
        ROLE,
        DEPARTMENT_CODE,
        DEPARTMENT_NAME,
        EMPLOYEE_CODE,
        EMPLOYEE_NAME,
        DEPENDANT_NO,
        DEPENDANT_NAME,
        KANA,
        BIRTH_DATE,
        RELATIONSHIP,
        ISSUED_ON,
        MY_NUMBER,
        CORPORATE_NUMBER,
        STATUS,
        REGISTERED_ON,
        ADMIN_CONFIRMED_ON,
    )

    def values(self, family: FamilyRecord) -> list[dict[str, object]]:
        self._check_role(family)
        head = family.head
        common = {
            "department_code": family.department_code,
            "department_name": family.department_name,
            "employee_code": family.employee_code,
            "employee_name": head.name,
        }
        rows: list[dict[str, object]] = [{**common, "role": family.role.value, **_person_values(head)}]
        for number, dependant in enumerate(family.dependants, start=1):
            rows.append(
                {
                    **common,
                    "role": Role.DEPENDANT.value,
                    "dependant_no": number,
                    "dependant_name": dependant.name,
                    "relationship": dependant.relationship,
                    **_person_values(dependant),
                }
            )
        return rows

    def entries(self, line: int, values: Mapping[str, object]) -> list[Entry]:
        dependant_no = int_or_none(values.get("dependant_no"))
        role = _role(values.get("role"), dependant_no, text_of(values, "employee_code"))
        name_column = DEPENDANT_NAME if role is Role.DEPENDANT else EMPLOYEE_NAME
        person = PersonRecord(
            name=text_of(values, name_column.key),
            kana=text_of(values, "kana"),
            birth_date=date_or_none(values.get("birth_date")),
            relationship=text_of(values, "relationship"),
            my_number=text_of(values, "my_number"),
            number_issued_on=date_or_none(values.get("number_issued_on")),
            corporate_number=text_of(values, "corporate_number"),
            status=text_of(values, "status"),
            registered_on=date_or_none(values.get("registered_on")),
            admin_confirmed_on=date_or_none(values.get("admin_confirmed_on")),
            skip=bool(values.get("skip")),
        )
        return [
            Entry(
                line=line,
                role=role,
                person=person,
                employee_code=text_of(values, "employee_code"),
                employee_name=text_of(values, "employee_name") if role is Role.DEPENDANT else "",
                dependant_no=dependant_no,
                department_code=text_of(values, "department_code"),
                department_name=text_of(values, "department_name"),
                columns=_FULL_COLUMNS[role is Role.DEPENDANT],
            )
        ]


_FULL_ENTRY_COLUMNS = (
    ROLE,
    DEPARTMENT_CODE,
    EMPLOYEE_CODE,
    DEPENDANT_NO,
    KANA,
    BIRTH_DATE,
    RELATIONSHIP,
    ISSUED_ON,
    MY_NUMBER,
    CORPORATE_NUMBER,
)
_FULL_COLUMNS = {
    dependant: columns_of(_FULL_ENTRY_COLUMNS, name=name)
    for dependant, name in ((False, EMPLOYEE_NAME), (True, DEPENDANT_NAME))
}


def _person_values(person: PersonRecord) -> dict[str, object]:
    return {
        "skip": person.skip,
        "kana": person.kana,
        "birth_date": person.birth_date,
        "number_issued_on": person.number_issued_on,
        "my_number": person.my_number,
        "corporate_number": person.corporate_number,
        "status": person.status,
        "registered_on": person.registered_on,
        "admin_confirmed_on": person.admin_confirmed_on,
    }


def _role(value: object, dependant_no: int | None, employee_code: str) -> Role:
    """The row's 区分, or (when it is missing or wrong, which the checks report) what the other cells imply."""
    if isinstance(value, str) and value in ROLE_CHOICES:
        return Role(value)
    if dependant_no is not None:
        return Role.DEPENDANT
    return Role.EMPLOYEE if employee_code else Role.PAYEE
