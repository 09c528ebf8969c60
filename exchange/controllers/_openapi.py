"""What the API description cannot learn from the handlers (``app.main`` applies it when the app starts).

- Request bodies are msgspec structs with ``forbid_unknown_fields``: an unknown field is a 400, so their schemas
  say ``additionalProperties: false`` (Litestar leaves it out, and a client generated from the description would
  think extras are fine).
- ``GET /api/v1/exports/numbers`` answers with the payroll file itself (CSV in cp932 or UTF-8, or .xlsx), not JSON.
"""

from __future__ import annotations

from typing import Final

from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIType, Schema

from exchange.schemas import NumberRegistration, NumbersReadRequest, PersonCreate, PersonUpdate

CLOSED_BODIES: Final = tuple(
    struct.__name__
    for struct in (PersonCreate, PersonUpdate, NumberRegistration, NumbersReadRequest)
    if struct.__struct_config__.forbid_unknown_fields
)
EXPORT_PATH: Final = "/api/v1/exports/numbers"
FILE_TYPES: Final = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def finish_api_description(description: OpenAPI) -> None:
    """Close the request bodies' schemas and give the export's 200 its file media types (idempotent)."""
    schemas = description.components.schemas if description.components else None
    for name in CLOSED_BODIES:
        if schemas and name in schemas:
            schemas[name].additional_properties = False
    path = (description.paths or {}).get(EXPORT_PATH)
    if path is None or path.get is None or path.get.responses is None:
        return
    answer = path.get.responses.get("200")
    if answer is None or isinstance(answer, dict) or not hasattr(answer, "content"):
        return
    binary = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
    answer.description = "ファイル（CSV は charset で cp932 なら Shift_JIS、UTF-8 なら UTF-8。Excel は .xlsx）"
    answer.content = {media_type: OpenAPIMediaType(schema=binary) for media_type in FILE_TYPES}
