"""The vault's errors. None of them ever carries a number: only ids, versions and Japanese sentences."""

from __future__ import annotations

from dataclasses import dataclass


class VaultError(Exception):
    """Base class; ``message`` is the short Japanese sentence a user may be shown."""

    message = "処理を完了できませんでした。"

    def __init__(self, detail: str | None = None, *, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(detail or self.message)


class MasterKeyError(VaultError):
    """The master key (KEK) is missing, unreadable or malformed; raised at start-up, names the file or variable."""


class VaultIntegrityError(VaultError):
    """A key or ciphertext fails to open: unknown KEK version, missing key, tampered or moved ciphertext."""

    message = "データの整合性を確認できませんでした。管理者にお問い合わせください。"


class DuplicateNumber(VaultError):
    """The number is already stored for another person in this tenant (whose is not revealed)."""

    message = "この番号は別の方の番号としてすでに登録されています。番号をご確認ください。"


class NumberAlreadyStored(VaultError):
    """The person already has a live number for this field: replace it instead."""

    message = "この方の番号はすでに登録されています。変更する場合は番号の変更から操作してください。"


class NumberNotFound(VaultError):
    """The person has no live number for this field."""

    message = "番号が登録されていません。"


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row of a batch was refused (``index`` into the batch; ``code`` as InvalidNumber or a vault code)."""

    index: int
    code: str
    message: str


class NumberBatchError(VaultError):
    """A batch was refused as a whole; ``errors`` lists each bad row. Nothing was written."""

    message = "取り込めない行があります。内容を確認してください。"

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} row(s) refused")
        self.errors = errors
