"""Rules of the exchange package that need the database and the vault (no HTTP here): importing files.

- ``check_import`` / ``commit_import``: the two steps of an import (bytes and a ``Progress`` in, so a page or the
  job runner calls them), ``ImportReport`` (counts and report lines; msgspec-serialisable, CSV, pages),
  ``ImportOutcome``, ``ImportRefused``; ``estimated_rows`` and ``SYNC_MAX_ROWS`` to choose between the request and
  a background job.
- ``keep_upload`` … ``drop_upload``: a checked file kept sealed until its commit.
"""

from exchange.services._import import (
    BATCH_ROWS,
    IMPORT_FUNCTION,
    check_import,
    commit_import,
    estimated_rows,
    require_importer,
)
from exchange.services._import_plan import NumberAction
from exchange.services._import_report import (
    MAX_REPORT_LINES,
    REPORT_PER_PAGE,
    ImportCounts,
    ImportOutcome,
    ImportRefused,
    ImportReport,
    decode_report,
)
from exchange.services._uploads import (
    IMPORT_STORE,
    UPLOAD_SECONDS,
    Upload,
    drop_upload,
    keep_upload,
    load_upload,
    open_upload,
    save_report,
)

# Files a page checks and commits inside its request: CSV of at most this many rows. Bigger files and every .xlsx
# go to a background job (app.jobs).
SYNC_MAX_ROWS = 2000

__all__ = [
    "BATCH_ROWS",
    "IMPORT_FUNCTION",
    "IMPORT_STORE",
    "MAX_REPORT_LINES",
    "REPORT_PER_PAGE",
    "SYNC_MAX_ROWS",
    "UPLOAD_SECONDS",
    "ImportCounts",
    "ImportOutcome",
    "ImportRefused",
    "ImportReport",
    "NumberAction",
    "Upload",
    "check_import",
    "commit_import",
    "decode_report",
    "drop_upload",
    "estimated_rows",
    "keep_upload",
    "load_upload",
    "open_upload",
    "require_importer",
    "save_report",
]
