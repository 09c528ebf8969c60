"""TOTP (RFC 6238) secrets, enrolment QR codes, code checks with replay refusal, and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import unicodedata

import pyotp
import segno

DEFAULT_ISSUER = "マイナンバー保管庫"
TOTP_DIGITS = 6
TOTP_PERIOD_SECONDS = 30
TOTP_WINDOW_STEPS = 1
SECRET_BASE32_CHARS = 32  # 160 bits, the HMAC-SHA1 key size RFC 4226 recommends
# No 0/o, 1/l/i: a code read off paper cannot be mistyped into another valid character. 31 symbols.
RECOVERY_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_CODE_GROUPS = 3
RECOVERY_CODE_GROUP_LENGTH = 4  # 12 symbols of 31: about 59.5 bits
RECOVERY_CODE_COUNT = 10

_WHITESPACE = re.compile(r"\s+")
_RECOVERY_SEPARATORS = re.compile(r"[\s\-]+")


def new_totp_secret() -> str:
    """A fresh random TOTP secret, base32 (160 bits)."""
    return pyotp.random_base32(length=SECRET_BASE32_CHARS)


def provisioning_uri(secret: str, *, account_name: str, issuer: str = DEFAULT_ISSUER) -> str:
    """The otpauth:// URI an authenticator app reads from the enrolment QR code."""
    return _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code of a URI as inline SVG markup (paths only, no script)."""
    return _qr(uri).svg_inline(scale=4, dark="#000", light="#fff", title="認証アプリ用のQRコード")


def qr_svg_data_uri(uri: str) -> str:
    """The QR code of a URI as a ``data:image/svg+xml`` URI for an ``<img src>`` (CSP allows img-src data:)."""
    return _qr(uri).svg_data_uri(scale=4, dark="#000", light="#fff")


def verify_totp(secret: str, code: str, *, last_used_step: int | None, now: float | None = None) -> int | None:
    """The time step a 6-digit code matches within ±1 step, or None (bad format, wrong, or a replayed step).

    Store the returned step as the account's last used step so the same code cannot be used twice.
    """
    digits = _normalize_code(code)
    if digits is None:
        return None
    totp = _totp(secret)
    current = int((time.time() if now is None else now) // TOTP_PERIOD_SECONDS)
    for step in range(current - TOTP_WINDOW_STEPS, current + TOTP_WINDOW_STEPS + 1):
        if step < 0 or (last_used_step is not None and step <= last_used_step):
            continue
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Fresh distinct one-time recovery codes like ``abcd-efgh-jkmn`` (shown once, stored hashed)."""
    codes: list[str] = []
    while len(codes) < count:
        code = _new_recovery_code()
        if code not in codes:
            codes.append(code)
    return codes


def normalize_recovery_code(code: str) -> str:
    """The comparable form of a typed recovery code: half-width, lower-case, no spaces or hyphens."""
    return _RECOVERY_SEPARATORS.sub("", unicodedata.normalize("NFKC", code)).lower()


def recovery_code_salt(tenant_id: object, account_id: object) -> str:
    """The salt of an account's recovery codes: its tenant and account ids (one guess cannot hit every account)."""
    return f"{tenant_id}:{account_id}"


def hash_recovery_code(code: str, *, salt: str) -> str:
    """SHA-256 hex of the salt and the normalized code (salt: :func:`recovery_code_salt`; required, never empty).

    A slow hash is not needed: the codes carry about 60 random bits.
    """
    if not salt:
        raise ValueError("a recovery code hash needs the account's salt")
    material = f"{salt}:{normalize_recovery_code(code)}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def recovery_code_matches(code: str, stored_hash: str, *, salt: str) -> bool:
    """Whether a typed recovery code matches a stored hash (constant-time comparison)."""
    return hmac.compare_digest(hash_recovery_code(code, salt=salt), stored_hash)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS)


def _qr(uri: str) -> segno.QRCode:
    return segno.make(uri, error="m", micro=False)


def _normalize_code(code: str) -> str | None:
    # NFKC turns full-width digits typed through a Japanese IME into ASCII ones.
    digits = _WHITESPACE.sub("", unicodedata.normalize("NFKC", code))
    return digits if len(digits) == TOTP_DIGITS and digits.isascii() and digits.isdigit() else None


def _new_recovery_code() -> str:
    groups = (
        "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_GROUP_LENGTH))
        for _ in range(RECOVERY_CODE_GROUPS)
    )
    return "-".join(groups)
