"""Checking an import file before anything is written: one report line per problem, per row and column, in Japanese.

Every value goes through the rules every other path uses: names, フリガナ, codes and dates through
``app.forms.Checker`` (``app.text``: clean_name, clean_kana, parse_date) and ``tenants.services.code_field`` /
``name_field`` (no 12-digit run in a code or a name); numbers through ``app.vault.numbers`` (length, letters, check
digit). On top of those, what only a file has: a number Excel turned into ``1.23457E+11`` (unrecoverable) or whose
leading zero it dropped (11 digits), invisible characters pasted in, the same number twice in the file, a
dependant's row without its employee's row above it, an empty 社員コード, a 社員コード used by two employees.

``FileChecker`` is fed the rows in file order (it keeps what later rows need: the numbers seen, as keyed
digests, the employee codes, the current family) and gives for each a ``CheckedRow``: its entries (the people
it holds, values cleaned) and its report lines. Nothing is looked up in the database here: the checks that need it
— 社員コード unknown (``Code.UNKNOWN_CODE``), a number another person holds (``Code.HELD_BY_OTHER``), a name, フリガナ
or birth date different from the stored person's (``Code.DIFFERS_FROM_STORED``, a warning the user accepts) —
are the next step's, with ``ReportLine`` as their line too. A message never repeats a number or a cell's value.
"""

from exchange.checks._cells import ERROR, WARNING, Code, Level
from exchange.checks._rows import NO_COLUMN, CheckedRow, FileChecker, ReportLine, Summary, check_rows

__all__ = [
    "ERROR",
    "NO_COLUMN",
    "WARNING",
    "CheckedRow",
    "Code",
    "FileChecker",
    "Level",
    "ReportLine",
    "Summary",
    "check_rows",
]
