"""Rules of the exchange package that touch the database and the vault (no HTTP here): the export.

- ``plan_export(session, principal, request) -> ExportPlan``: checks (Japanese ``FormInvalid``, 404 for another
  tenant's ids, 403 / step-up for numbers), counts, the characters cp932 cannot hold, dependants without a
  源泉徴収票 slot, the file's name and media type.
- ``stream_export(session, vault, principal, actor, plan) -> ExportStream``: the file as an async iterator of
  bytes, logged (CSV出力) in a transaction of its own that commits only once the last chunk is made.
- ``UnencodableCharacters``: cp932 without replacement and characters it cannot hold (the API's 422).
"""

from exchange.services._export import (
    BATCH_PEOPLE,
    ExportStream,
    SelectionSummary,
    describe_selection,
    export_purposes,
    plan_export,
    stream_export,
)
from exchange.services._request import (
    ENCODING_LABELS,
    LAYOUT_LABELS,
    MAX_LISTED,
    MAX_PERSON_IDS,
    ExportPlan,
    ExportRefused,
    ExportRequest,
    ExportSelection,
    Outcome,
    UnencodableCharacters,
    UnplacedDependant,
    default_withholding_year,
)

__all__ = [
    "BATCH_PEOPLE",
    "ENCODING_LABELS",
    "LAYOUT_LABELS",
    "MAX_LISTED",
    "MAX_PERSON_IDS",
    "ExportPlan",
    "ExportRefused",
    "ExportRequest",
    "ExportSelection",
    "ExportStream",
    "Outcome",
    "SelectionSummary",
    "UnencodableCharacters",
    "UnplacedDependant",
    "default_withholding_year",
    "describe_selection",
    "export_purposes",
    "plan_export",
    "stream_export",
]
