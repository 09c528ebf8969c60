"""Retention of sealed import uploads (``exchange.services._uploads``): a file checked but never committed.

An upload waits ``UPLOAD_SECONDS`` for its commit in the ``imports`` store; in the database store an expired one is
no longer read but its row stays until removed here (``mnvault purge`` and the periodic maintenance, through
``app.retention``). The row's key is ``<tenant id>:<upload id>``: each removal is logged in that tenant's chain.
"""

from __future__ import annotations

import uuid

from app.retention import expired_store_items, register_retention
from exchange.services._uploads import IMPORT_STORE


def upload_tenant(key: str) -> uuid.UUID | None:
    """The tenant of an upload's store key (``<tenant id>:<upload id>``); None for a key of another shape."""
    head, _, _ = key.partition(":")
    try:
        return uuid.UUID(head)
    except ValueError:
        return None


IMPORT_UPLOADS = register_retention(
    "import_uploads", expired_store_items(IMPORT_STORE, upload_tenant), label="取込待ちのファイル"
)
