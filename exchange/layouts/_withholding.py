"""The withholding layout: one row per employee, with the 源泉徴収票's spouse and dependant slots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType

from exchange.layouts._base import EMPLOYEE_CODE, SKIP, Column, Kind, Layout, date_or_none, text_of
from exchange.records import Entry, FamilyRecord, PersonRecord, Role
from tenants.models import Relationship

SPOUSE_SLOT = "控除対象配偶者"
DEPENDANT_SLOTS = tuple(f"控除対象扶養親族{n}" for n in range(1, 5))
UNDER_16_SLOTS = tuple(f"16歳未満の扶養親族{n}" for n in range(1, 5))
SLOT_FIELDS = (("name", "氏名", Kind.NAME), ("kana", "フリガナ", Kind.KANA), ("my_number", "個人番号", Kind.MY_NUMBER))


def _slot_columns(slot: str) -> tuple[Column, ...]:
    return tuple(Column(f"{slot} {label}", kind, f"{slot}.{key}") for key, label, kind in SLOT_FIELDS)


def under_16(birth_date: dt.date, year: int) -> bool:
    """Whether a dependant is under 16 on 31 December of ``year`` (born on or after 2 January, 15 years before).

    Source: 国税庁「給与所得の源泉徴収票等の法定調書の作成と提出の手引」— 令和6年分の16歳未満の扶養親族は
    平成21年1月2日以後に生まれた人 (a person is a year older on the day before their birthday).
    """
    return birth_date >= dt.date(year - 15, 1, 2)


class WithholdingLayout(Layout):
    """One row per employee with the numbers a 給与所得の源泉徴収票 (and the 給与支払報告書) carries.

    What the official record holds (国税庁「給与所得の源泉徴収票等の法定調書の作成と提出の手引」, the e-Tax /
    eLTAX 法定調書 CSV record 315 for 給与所得の源泉徴収票 and 給与支払報告書, and the municipalities' 光ディスク等
    レコード作成要領 that reproduce it): the receiver's 個人番号; the (源泉・特別)控除対象配偶者's 氏名, フリガナ and
    個人番号; four 控除対象扶養親族 slots (氏名, フリガナ, 区分, 個人番号) — a fifth and later dependant goes to
    (摘要) with its number in (備考) — and four 16歳未満の扶養親族 slots, whose numbers only the 給与支払報告書 for
    the municipality carries (the 手引's 備考 note 2), not the copy for the tax office or the employee.
    Popular products key such files by the employee: SmartHR's family files use 社員番号 and columns named
    「配偶者 続柄」「配偶者 姓」 (a slot, a space, the field); 弥生給与's マイナンバー import matches people by name
    (従業員名, 扶養親族等名, 個人番号; no space between family and given name). This layout keeps 社員コード as the
    key and names each slot's columns the SmartHR way (「控除対象扶養親族1 個人番号」).

    The service does not know who is 控除対象 (that depends on income, which payroll knows): the spouse slot takes
    the dependant whose 続柄 is 配偶者; the others go by age on 31 December of ``year`` into the 16歳未満 slots or the
    控除対象扶養親族 slots (a dependant without a birth date into the latter), in the family's order. Those beyond
    the four slots of their kind are returned by ``unplaced`` for the user to see; they are not written.
    On import the slots read back as the employee's dependants (the spouse slot's with 続柄 配偶者). 処理スキップ
    leads the row as in the other layouts, so that every layout imports the same way.

    Sources (read for this layout): 国税庁「令和6年分 給与所得の源泉徴収票等の法定調書の作成と提出の手引」
    (備考) 欄 — https://www.nta.go.jp/publication/pamph/hotei/tebikihtml/2-2-23.htm; the 給与支払報告書
    光ディスク等提出データ仕様書 (record 315, 項目 1–11 …) as municipalities publish it (網走市, 小田原市, 浦安市);
    マネーフォワード クラウド給与「eLTAX取込み用の給与支払報告書・源泉徴収票CSV」(the 総務省通知形式 CSV, numbers
    optional) — https://support.biz.moneyforward.com/payroll/guide/adjustment03/adjus17.html; SmartHR
    「マイナンバー情報を一括登録する」 (本人 / 家族 CSV keyed by 社員番号) —
    https://support.smarthr.jp/ja/help/articles/360026264273 and its 家族情報 CSV legend (「配偶者 姓」…);
    弥生給与「マイナンバーのインポート」 — https://support.yayoi-kk.co.jp/subcontents.html?page_id=24300.
    The exact column positions of the e-Tax record were not in the material reachable here: this layout carries
    the record's number fields by name, for the payroll software's import mapping, not the record itself.
    """

    name = "withholding"
    title = "源泉徴収票（1人1行・配偶者と扶養親族の欄）"
    roles = frozenset({Role.EMPLOYEE})
    slots = (SPOUSE_SLOT, *DEPENDANT_SLOTS, *UNDER_16_SLOTS)
    columns = (
        SKIP,
        EMPLOYEE_CODE,
        Column("氏名", Kind.NAME, "name"),
        Column("フリガナ", Kind.KANA, "kana"),
        Column("生年月日", Kind.BIRTH_DATE, "birth_date"),
        Column("個人番号", Kind.MY_NUMBER, "my_number"),
        *(column for slot in (SPOUSE_SLOT, *DEPENDANT_SLOTS, *UNDER_16_SLOTS) for column in _slot_columns(slot)),
    )

    @property
    def whole_families(self) -> bool:
        return True

    def __init__(self, year: int | None = None) -> None:
        self.year = year

    def placement(self, family: FamilyRecord) -> tuple[dict[str, PersonRecord], tuple[PersonRecord, ...]]:
        """The dependants by slot, and those left without one."""
        if self.year is None:
            raise ValueError("the withholding layout needs the year (16歳未満 is counted on 31 December)")
        placed: dict[str, PersonRecord] = {}
        left: list[PersonRecord] = []
        free = {"spouse": [SPOUSE_SLOT], "dependant": list(DEPENDANT_SLOTS), "under_16": list(UNDER_16_SLOTS)}
        for dependant in family.dependants:
            if dependant.relationship == Relationship.SPOUSE.value:
                group = "spouse"
            elif dependant.birth_date is not None and under_16(dependant.birth_date, self.year):
                group = "under_16"
            else:
                group = "dependant"
            if free[group]:
                placed[free[group].pop(0)] = dependant
            else:
                left.append(dependant)
        return placed, tuple(left)

    def unplaced(self, family: FamilyRecord) -> tuple[PersonRecord, ...]:
        return self.placement(family)[1]

    def values(self, family: FamilyRecord) -> list[dict[str, object]]:
        self._check_role(family)
        head = family.head
        row: dict[str, object] = {
            "skip": head.skip,
            "employee_code": family.employee_code,
            "name": head.name,
            "kana": head.kana,
            "birth_date": head.birth_date,
            "my_number": head.my_number,
        }
        for slot, dependant in self.placement(family)[0].items():
            row.update({f"{slot}.name": dependant.name, f"{slot}.kana": dependant.kana})
            row[f"{slot}.my_number"] = dependant.my_number
        return [row]

    def entries(self, line: int, values: Mapping[str, object]) -> list[Entry]:
        code = text_of(values, "employee_code")
        skip = bool(values.get("skip"))
        head = PersonRecord(
            name=text_of(values, "name"),
            kana=text_of(values, "kana"),
            birth_date=date_or_none(values.get("birth_date")),
            my_number=text_of(values, "my_number"),
            skip=skip,
        )
        entries = [Entry(line=line, role=Role.EMPLOYEE, person=head, employee_code=code, columns=_HEAD_COLUMNS)]
        for slot in self.slots:
            texts = {key: text_of(values, f"{slot}.{key}") for key, _label, _kind in SLOT_FIELDS}
            if not any(texts.values()):
                continue
            person = PersonRecord(
                name=texts["name"],
                kana=texts["kana"],
                my_number=texts["my_number"],
                relationship=Relationship.SPOUSE.value if slot == SPOUSE_SLOT else "",
                skip=skip,
            )
            entries.append(
                Entry(
                    line=line,
                    role=Role.DEPENDANT,
                    person=person,
                    employee_code=code,
                    employee_name=head.name,
                    slot=slot,
                    columns=_SLOT_COLUMNS[slot],
                )
            )
        return entries


_HEAD_COLUMNS = MappingProxyType({column.key: column.name for column in WithholdingLayout.columns[1:6]})
_SLOT_COLUMNS = {
    slot: MappingProxyType({key: f"{slot} {label}" for key, label, _kind in SLOT_FIELDS})
    for slot in WithholdingLayout.slots
}
