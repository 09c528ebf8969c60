"""Password hashing (Argon2id) and the password policy: length, common passwords, login id.

Passwords are NFKC-normalised before hashing and before the policy counts them, so the same password typed
with full-width or half-width characters signs in alike (NIST SP 800-63B 5.1.1.2). Hashing is CPU-bound and
argon2-cffi releases the GIL: call ``hash``/``verify``/``verify_dummy`` from a worker thread in async code.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from dataclasses import dataclass
from importlib import resources

from argon2 import PasswordHasher as _Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from app.config import Settings
from app.workers import ARGON2, run_in_worker

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
MIN_LOGIN_ID_LENGTH_CHECKED = 3
COMMON_PASSWORDS_FILE = "common_passwords.txt"


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """Outcome of a verify: whether the password matched, and whether its hash should be replaced."""

    ok: bool
    needs_rehash: bool = False

    def __bool__(self) -> bool:
        # A bare ``if hasher.verify(...)`` must not pass for a wrong password.
        return self.ok


def normalize_password(password: str) -> str:
    """The form of a password that is hashed and measured (NFKC)."""
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    """Argon2id hashing with the parameters from Settings."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = _Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        """Hash a password (PHC string with salt and parameters)."""
        return self._argon2.hash(normalize_password(password))

    def verify(self, stored_hash: str, password: str) -> PasswordCheck:
        """Check a password against a stored hash; ``needs_rehash`` when the parameters have changed since."""
        try:
            self._argon2.verify(stored_hash, normalize_password(password))
        except InvalidHashError:
            # A damaged hash answers like a wrong password, in the same time.
            self.verify_dummy(password)
            return PasswordCheck(ok=False)
        except VerificationError:
            return PasswordCheck(ok=False)
        return PasswordCheck(ok=True, needs_rehash=self._argon2.check_needs_rehash(stored_hash))

    def verify_dummy(self, password: str) -> None:
        """Spend the time of a real verify, for an unknown login id (same timing as a wrong password)."""
        try:
            self._argon2.verify(self._dummy(), normalize_password(password))
        except VerificationError:
            pass

    # Off the event loop: one Argon2id run takes ~150 ms of CPU at the production cost (argon2-cffi releases the
    # GIL), so sign-ins hash in worker threads, at most one per core, while other requests go on.
    async def hash_async(self, password: str) -> str:
        """``hash`` in a worker thread."""
        return await run_in_worker(ARGON2, self.hash, password)

    async def verify_async(self, stored_hash: str, password: str) -> PasswordCheck:
        """``verify`` in a worker thread."""
        return await run_in_worker(ARGON2, self.verify, stored_hash, password)

    async def verify_dummy_async(self, password: str) -> None:
        """``verify_dummy`` in a worker thread."""
        await run_in_worker(ARGON2, self.verify_dummy, password)

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(32))
        return self._dummy_hash


def hasher_from_settings(settings: Settings) -> PasswordHasher:
    """The PasswordHasher for these settings (one per parameter set, so its dummy hash is made once)."""
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 1,000 most common passwords, lower-case (comment lines skipped)."""
    text = resources.files("app.auth").joinpath(COMMON_PASSWORDS_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def check_password_policy(password: str, *, login_id: str) -> list[str]:
    """Problems with a new password as short Japanese sentences saying what to fix; empty when acceptable."""
    normalized = normalize_password(password)
    length = len(normalized)
    problems = []
    if length < MIN_PASSWORD_LENGTH:
        problems.append(f"パスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください（いまは{length}文字です）。")
    if length > MAX_PASSWORD_LENGTH:
        problems.append(f"パスワードは{MAX_PASSWORD_LENGTH}文字以内にしてください（いまは{length}文字です）。")
    folded = normalized.casefold()
    if folded.strip() in common_passwords():
        problems.append("よく使われているパスワードは使えません。推測されにくいものにしてください。")
    login = normalize_password(login_id).strip().casefold()
    if len(login) >= MIN_LOGIN_ID_LENGTH_CHECKED and login in folded:
        problems.append("パスワードにログインIDを含めないでください。")
    return problems
