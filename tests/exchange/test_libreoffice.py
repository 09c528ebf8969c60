"""A real spreadsheet reads the files: LibreOffice (headless, Debian's package) converts them without error.

The CSV has no types, so LibreOffice (like Excel) would read ``001`` as the number 1 unless the columns are
imported as text, which is what its import dialog and payroll software do: the conversion below says so in the
filter options (cp932 = character set 60, MS_932). The .xlsx needs nothing: its cells are text.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from exchange.encoding import write_csv, write_xlsx
from exchange.layouts import FULL, SEED
from tests.exchange.samples import families, number

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
if SOFFICE is None and os.environ.get("MNV_REQUIRE_LIBREOFFICE") == "1":
    raise RuntimeError("MNV_REQUIRE_LIBREOFFICE=1 but soffice is missing: apt-get install libreoffice-calc-nogui")
pytestmark = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui; .ci/run installs it and sets "
    "MNV_REQUIRE_LIBREOFFICE=1 to fail instead)",
)


def _convert(source: Path, target: str, tmp_path: Path, *, infilter: str = "") -> Path:
    assert SOFFICE is not None
    out = tmp_path / "out"
    command = [
        SOFFICE,
        "--headless",
        "--norestore",
        f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
        *([f"--infilter={infilter}"] if infilter else []),
        "--convert-to",
        target,
        "--outdir",
        str(out),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    converted = out / f"{source.stem}.{target.split(':')[0]}"
    assert done.returncode == 0, done.stderr
    assert converted.exists(), done.stdout + done.stderr
    return converted


def test_libreoffice_reads_the_cp932_csv_with_leading_zeros_and_every_kanji(tmp_path: Path) -> None:
    chosen = [family for family in families() if family.role in SEED.roles]
    source = tmp_path / "seed.csv"
    source.write_bytes(b"".join(write_csv(SEED.columns, SEED.table(chosen))))
    text_columns = "/".join(f"{n}/2" for n in range(1, len(SEED.columns) + 1))  # column n: 2 = text

    converted = _convert(source, "xlsx", tmp_path, infilter=f"CSV:44,34,60,1,{text_columns}")

    workbook = openpyxl.load_workbook(converted, read_only=True)
    try:
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    assert rows[0] == SEED.header
    assert rows[1][1:3] == ("001", "河合 康則") and rows[1][6] == number(1)
    assert rows[5][1:3] == ("0007", "'-太郎")  # the formula guard is text, not run
    assert "髙橋 﨑子" in [row[2] for row in rows]
    assert len(rows) == 1 + len(list(SEED.table(chosen)))


def test_libreoffice_reads_the_xlsx_and_writes_it_out_with_leading_zeros(tmp_path: Path) -> None:
    source = tmp_path / "full.xlsx"
    source.write_bytes(b"".join(write_xlsx(FULL.columns, FULL.table(families()))))

    converted = _convert(source, "csv:Text - txt - csv (StarCalc):44,34,76", tmp_path)  # 76: UTF-8

    with converted.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(FULL.header)
    assert rows[1][4:6] == ["001", "河合 康則"] and rows[1][12] == number(1)
    assert rows[1][9] == "1970/04/01"
    assert rows[3][11:13] == ["2016/01/01", number(3)]
    assert ["0007", "-太郎"] in [row[4:6] for row in rows]  # the formula guard is the quote prefix: text as typed
    assert len(rows) == 1 + len(list(FULL.table(families())))
