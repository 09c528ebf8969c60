"""Rules of the exchange package that need the database and the vault (no HTTP here): importing files, API
tokens, and the JSON API's people and numbers.

- ``check_import`` / ``commit_import``: the two steps of an import (bytes and a ``Progress`` in, so a page or the
  job runner calls them), ``ImportReport`` (counts and report lines; msgspec-serialisable, CSV, pages),
  ``ImportOutcome``, ``ImportRefused``; ``estimated_rows`` and ``SYNC_MAX_ROWS`` to choose between the request and
  a background job.
- ``keep_upload`` … ``drop_upload``: a checked file kept sealed until its commit.
- API tokens (``create_token`` … ``authenticate``) and the API's people and numbers services.
"""

from exchange.services._api_people import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    READ_FUNCTION,
    CursorInvalid,
    PeopleQuery,
    create_person,
    people_page,
    person_read,
    read_numbers,
    read_person,
    register_number,
    status_key,
    update_person,
)
from exchange.services._api_tokens import (
    ACTOR_ROLE,
    DEFAULT_DAYS,
    MAX_DAYS,
    REFUSALS,
    SCOPES,
    TOKEN_PREFIX,
    ApiPrincipal,
    IssuedToken,
    TokenPage,
    TokenRefused,
    TokenRequest,
    active_token_named,
    authenticate,
    bearer_credentials,
    create_token,
    get_token,
    parse_token,
    revoke_token,
    secret_hash,
    token_page,
    token_state,
    token_text,
)
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
    "ACTOR_ROLE",
    "BATCH_ROWS",
    "DEFAULT_DAYS",
    "DEFAULT_LIMIT",
    "IMPORT_FUNCTION",
    "IMPORT_STORE",
    "MAX_DAYS",
    "MAX_LIMIT",
    "MAX_REPORT_LINES",
    "READ_FUNCTION",
    "REFUSALS",
    "REPORT_PER_PAGE",
    "SCOPES",
    "SYNC_MAX_ROWS",
    "TOKEN_PREFIX",
    "UPLOAD_SECONDS",
    "ApiPrincipal",
    "CursorInvalid",
    "ImportCounts",
    "ImportOutcome",
    "ImportRefused",
    "ImportReport",
    "IssuedToken",
    "NumberAction",
    "PeopleQuery",
    "TokenPage",
    "TokenRefused",
    "TokenRequest",
    "Upload",
    "active_token_named",
    "authenticate",
    "bearer_credentials",
    "check_import",
    "commit_import",
    "create_person",
    "create_token",
    "decode_report",
    "drop_upload",
    "estimated_rows",
    "get_token",
    "keep_upload",
    "load_upload",
    "open_upload",
    "parse_token",
    "people_page",
    "person_read",
    "read_numbers",
    "read_person",
    "register_number",
    "require_importer",
    "revoke_token",
    "save_report",
    "secret_hash",
    "status_key",
    "token_page",
    "token_state",
    "token_text",
    "update_person",
]
