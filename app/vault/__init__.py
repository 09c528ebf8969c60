"""The vault: number rules, keys, sealing, per-person erasure, blind index. Nothing else touches a key."""

from app.vault._documents import DocumentKeyGone, SealedDocument
from app.vault._documents import sealed_size as sealed_document_size
from app.vault._tenant_erasure import ErasedTotals, TenantDestruction
from app.vault.errors import (
    DuplicateNumber,
    MasterKeyError,
    NumberAlreadyStored,
    NumberBatchError,
    NumberNotFound,
    RowError,
    VaultError,
    VaultIntegrityError,
)
from app.vault.maintenance import RotationReport
from app.vault.models import NumberField
from app.vault.numbers import InvalidNumber
from app.vault.service import NumberInfo, StoredNumber, Vault

__all__ = [
    "DocumentKeyGone",
    "DuplicateNumber",
    "ErasedTotals",
    "InvalidNumber",
    "MasterKeyError",
    "NumberAlreadyStored",
    "NumberBatchError",
    "NumberField",
    "NumberInfo",
    "NumberNotFound",
    "RotationReport",
    "RowError",
    "SealedDocument",
    "StoredNumber",
    "TenantDestruction",
    "Vault",
    "VaultError",
    "VaultIntegrityError",
    "sealed_document_size",
]
