"""The file layouts: ordered columns with a kind each, families turned into rows and rows back into entries.

Three layouts (``LAYOUT_NAMES``):

- **seed** — exactly the columns of the seed service's CSV (seed 003, 「CSVファイル出力機能で、給与ソフトと連携」):
  処理スキップ, 社員コード, 社員名, 扶養No, 扶養者名, マイナンバー発行日, マイナンバー. One row per employee, then
  one per dependant numbered 1, 2 … right under their employee, with 扶養No empty on the employee's row and the
  employee's 社員コード and 社員名 repeated on the dependants' rows. Dates are written ``YYYY/MM/DD`` as in the
  seed's sample (``2016/01/01``). マイナンバー発行日 is the date the service shows as 発行日 beside the masked
  number (the seed's list and self-registration screens); the sample shows it on every row, numbers or not.
  ``*`` in 処理スキップ leaves the row alone on import: the seed's sample is a template with ``*`` on every row
  and no numbers, to be cleared on the rows one fills in.
- **full** — the seed's columns and 区分 (従業員 / 扶養家族 / 取引先), 部門コード, 部門, フリガナ, 生年月日, 続柄,
  法人番号 (corporate payees), 状態, 登録日, 管理者確認日. Payees come after the employees with an empty
  社員コード; a payee's name is in 社員名. 状態, 登録日 and 管理者確認日 are information: an import reads them but
  never applies them.
- **withholding** — one row per employee as the 給与所得の源泉徴収票 needs the numbers; see ``WithholdingLayout``.

Every cell is text (``format_cell``); ``exchange.encoding`` writes it, ``exchange.checks`` reads it back.
"""

from __future__ import annotations

from exchange.layouts._base import (
    NUMBER_KINDS,
    SKIP_MARK,
    TYPED_KINDS,
    Column,
    Kind,
    Layout,
    format_cell,
    group_families,
)
from exchange.layouts._rows import FullLayout, SeedLayout
from exchange.layouts._withholding import (
    DEPENDANT_SLOTS,
    SPOUSE_SLOT,
    UNDER_16_SLOTS,
    WithholdingLayout,
    under_16,
)

SEED = SeedLayout()
FULL = FullLayout()
LAYOUT_NAMES = ("seed", "full", "withholding")


def layout_named(name: str, *, year: int | None = None) -> Layout:
    """The layout called ``name`` (``LAYOUT_NAMES``); the withholding layout needs ``year`` to export.

    Raises ValueError for an unknown name.
    """
    if name == "seed":
        return SEED
    if name == "full":
        return FULL
    if name == "withholding":
        return WithholdingLayout(year)
    raise ValueError(f"unknown layout: {name!r}")


__all__ = [
    "DEPENDANT_SLOTS",
    "FULL",
    "LAYOUT_NAMES",
    "NUMBER_KINDS",
    "SEED",
    "SKIP_MARK",
    "SPOUSE_SLOT",
    "TYPED_KINDS",
    "UNDER_16_SLOTS",
    "Column",
    "FullLayout",
    "Kind",
    "Layout",
    "SeedLayout",
    "WithholdingLayout",
    "format_cell",
    "group_families",
    "layout_named",
    "under_16",
]
