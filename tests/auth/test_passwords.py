"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

import pytest

from app.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordCheck,
    PasswordHasher,
    check_password_policy,
    common_passwords,
    hasher_from_settings,
)
from app.config import Settings

CHEAP = {"time_cost": 1, "memory_kib": 64, "parallelism": 1}
GOOD_PASSWORD = "kumo-no-ue-de-odoru"


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(**CHEAP)


def test_it_verifies_the_password_it_hashed(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD_PASSWORD)
    assert stored.startswith("$argon2id$")
    assert GOOD_PASSWORD not in stored
    assert hasher.verify(stored, GOOD_PASSWORD) == PasswordCheck(ok=True, needs_rehash=False)


def test_it_salts_each_hash(hasher: PasswordHasher) -> None:
    assert hasher.hash(GOOD_PASSWORD) != hasher.hash(GOOD_PASSWORD)


def test_it_refuses_a_wrong_password(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD_PASSWORD)
    check = hasher.verify(stored, GOOD_PASSWORD + "x")
    assert check.ok is False
    assert check.needs_rehash is False


def test_a_refused_check_is_falsy_so_a_bare_if_cannot_let_it_through(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD_PASSWORD)
    assert not hasher.verify(stored, "wrong password")
    assert hasher.verify(stored, GOOD_PASSWORD)


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=64,t=1,p=1$broken"])
def test_it_refuses_a_damaged_hash_without_raising(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.verify(stored, GOOD_PASSWORD) == PasswordCheck(ok=False)


def test_it_asks_for_a_rehash_after_the_parameters_change(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD_PASSWORD)
    stronger = PasswordHasher(time_cost=2, memory_kib=128, parallelism=1)
    assert stronger.verify(stored, GOOD_PASSWORD) == PasswordCheck(ok=True, needs_rehash=True)
    assert stronger.verify(stronger.hash(GOOD_PASSWORD), GOOD_PASSWORD).needs_rehash is False


def test_a_wrong_password_never_asks_for_a_rehash(hasher: PasswordHasher) -> None:
    stronger = PasswordHasher(time_cost=2, memory_kib=128, parallelism=1)
    assert stronger.verify(hasher.hash(GOOD_PASSWORD), "wrong password").needs_rehash is False


def test_the_dummy_verify_returns_nothing_and_does_not_raise(hasher: PasswordHasher) -> None:
    hasher.verify_dummy(GOOD_PASSWORD)
    hasher.verify_dummy("")


def test_the_dummy_hash_has_the_real_parameters_so_it_costs_the_same(hasher: PasswordHasher) -> None:
    hasher.verify_dummy(GOOD_PASSWORD)
    assert hasher._dummy().startswith("$argon2id$v=19$m=64,t=1,p=1$")


def test_full_width_and_half_width_forms_of_a_password_match(hasher: PasswordHasher) -> None:
    stored = hasher.hash("Ｐａｓｓｗｏｒｄ１２３４５")
    assert hasher.verify(stored, "Password12345").ok


def test_the_hasher_from_settings_uses_their_argon2_parameters() -> None:
    settings = Settings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)
    stored = hasher_from_settings(settings).hash(GOOD_PASSWORD)
    assert "$m=64,t=1,p=1$" in stored
    assert hasher_from_settings(settings) is hasher_from_settings(settings)


def test_the_default_settings_stay_at_or_above_owasp_minimum() -> None:
    settings = Settings()
    # OWASP: m=19 MiB with t=2, or m=46 MiB with t=1 (p=1).
    assert settings.argon2_memory_kib >= 19 * 1024
    assert settings.argon2_time_cost >= 2 or settings.argon2_memory_kib >= 46 * 1024


def test_the_policy_accepts_a_long_uncommon_password() -> None:
    assert check_password_policy(GOOD_PASSWORD, login_id="tanaka") == []


def test_the_policy_has_no_composition_rules() -> None:
    assert check_password_policy("alllowercaseletters", login_id="tanaka") == []


def test_the_policy_refuses_a_short_password_and_says_how_long_it_must_be() -> None:
    problems = check_password_policy("short1", login_id="tanaka")
    assert problems == ["パスワードは10文字以上にしてください（いまは6文字です）。"]


def test_the_policy_accepts_exactly_ten_characters() -> None:
    assert check_password_policy("x7#kq2!vbn", login_id="tanaka") == []


def test_the_policy_refuses_a_password_over_the_maximum() -> None:
    problems = check_password_policy("a" * (MAX_PASSWORD_LENGTH + 1), login_id="tanaka")
    assert problems == ["パスワードは128文字以内にしてください（いまは129文字です）。"]


def test_the_policy_counts_characters_after_nfkc() -> None:
    # "㍻" is one character that NFKC turns into two ("平成"); full-width letters stay one each.
    assert check_password_policy("㍻abcdefgh", login_id="tanaka") == []
    assert check_password_policy("ａｂｃｄｅｆｇｈｉ", login_id="tanaka") == [
        "パスワードは10文字以上にしてください（いまは9文字です）。"
    ]


def test_the_policy_counts_japanese_characters_one_each() -> None:
    assert check_password_policy("にほんごのぱすわーどです", login_id="tanaka") == []


@pytest.mark.parametrize("password", ["1234567890", "Qwertyuiop", "PASSWORD12", "ｑｗｅｒｔｙｕｉｏｐ"])
def test_the_policy_refuses_a_common_password_whatever_its_case_or_width(password: str) -> None:
    assert check_password_policy(password, login_id="tanaka") == [
        "よく使われているパスワードは使えません。推測されにくいものにしてください。"
    ]


def test_a_short_common_password_gets_both_messages() -> None:
    assert len(check_password_policy("password", login_id="tanaka")) == 2


@pytest.mark.parametrize("password", ["tanaka-no-himitsu", "my-TANAKA-secret", "ｔａｎａｋａ１２３４５"])
def test_the_policy_refuses_a_password_containing_the_login_id(password: str) -> None:
    assert check_password_policy(password, login_id="Tanaka") == ["パスワードにログインIDを含めないでください。"]


def test_the_policy_ignores_a_login_id_shorter_than_three_characters() -> None:
    assert check_password_policy("ab-kumo-no-ue-de", login_id="ab") == []


def test_the_common_list_holds_exactly_a_thousand_passwords() -> None:
    passwords = common_passwords()
    assert len(passwords) == 1000
    assert {"password", "12345678", "123456", "qwerty"} <= passwords
    assert all(p == p.lower() and not p.startswith("#") for p in passwords)


async def test_sign_in_hashing_runs_off_the_event_loop_thread() -> None:
    import threading
    from typing import Any

    from app.auth.passwords import PasswordHasher

    hasher = PasswordHasher(time_cost=1, memory_kib=64, parallelism=1)
    threads: list[int] = []
    real = hasher._argon2

    class Spy:
        def __getattr__(self, name: str) -> Any:
            attribute = getattr(real, name)
            if name not in ("hash", "verify"):
                return attribute

            def spied(*args: Any, **kwargs: Any) -> Any:
                threads.append(threading.get_ident())
                return attribute(*args, **kwargs)

            return spied

    hasher._argon2 = Spy()  # type: ignore[assignment]
    stored = await hasher.hash_async("correct horse battery")
    assert (await hasher.verify_async(stored, "correct horse battery")).ok
    assert not (await hasher.verify_async(stored, "wrong horse battery")).ok
    await hasher.verify_dummy_async("anything")
    assert len(threads) >= 4
    assert threading.get_ident() not in threads
