"""The key/value table behind server-side sessions and rate-limit counters (advanced-alchemy's store model)."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar.store import StoreModelMixin


class KeyValueItem(StoreModelMixin):
    __tablename__ = "kv_store"
