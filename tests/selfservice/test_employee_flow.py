"""The employee's pages on a phone: notice, own number, dependants, confirmation, correction, decline, isolation."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.guard import contains_digit_run
from app.auth.models import Role
from app.config import Settings
from app.db import utcnow
from app.vault import InvalidNumber, Vault
from app.vault.numbers import normalize_my_number
from selfservice.services import JST
from tenants.models import CollectionStatus, CorrectionRequest, Person, PersonKind, Relationship, RequestStatus
from tenants.services._records import Channel, confirm_by_admin
from tests.selfservice.test_invitations import first_sign_in, invite_as_admin, one_time_password
from tests.support.audit import details, entries
from tests.support.cards import card_html, confirmation_token, hides, shown_numbers
from tests.support.people import ACTOR, give_number, make_department, make_dependant, make_employee, valid_my_number
from tests.support.world import Persona, World, make_persona, post_form, sign_in

STATIC = Path(__file__).resolve().parents[2] / "app" / "static"


@dataclass
class Me:
    person: Person
    persona: Persona


async def post(client: AsyncTestClient[Litestar], path: str, data: dict[str, str] | None = None) -> httpx.Response:
    response = await post_form(client, path, data)
    assert isinstance(response, httpx.Response)
    return response


async def fresh(db: AsyncSession, person: Person) -> Person:
    statement = (
        select(Person)
        .where(Person.tenant_id == person.tenant_id, Person.id == person.id)
        .execution_options(populate_existing=True)
    )
    return (await db.execute(statement)).scalar_one()


async def dependants(db: AsyncSession, employee: Person) -> list[Person]:
    statement = (
        select(Person)
        .where(Person.tenant_id == employee.tenant_id, Person.employee_id == employee.id)
        .order_by(Person.created_at)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(statement)).scalars())


async def linked_employee(
    db: AsyncSession, settings: Settings, vault: Vault, world: World, code: str, name: str, *, acknowledged: bool = True
) -> Me:
    """An employee record with an active account linked to it (as after an invitation and first sign-in)."""
    department = await make_department(db, world.tenant.id, f"d{code}", "総務課")
    person = await make_employee(db, world.tenant.id, code, name, department=department)
    persona = await make_persona(db, settings, vault, world.tenant, f"e{code}", Role.EMPLOYEE)
    persona.account.person_id = person.id
    if acknowledged:
        person.notice_acknowledged_at = utcnow()
    await db.commit()
    return Me(person=person, persona=persona)


@pytest.fixture
async def me(db: AsyncSession, settings: Settings, vault: Vault, world: World) -> Me:
    return await linked_employee(db, settings, vault, world, "1001", "山田 太郎")


@pytest.fixture
async def vault(settings: Settings) -> AsyncIterator[Vault]:
    """The vault for arranging, with its own connections (the app's live on the test client's event loop)."""
    arranging = Vault.from_settings(settings)
    yield arranging
    await arranging.close()


async def number_on_file(db: AsyncSession, vault: Vault, person: Person) -> str | None:
    info = await vault.number_info(db, person.tenant_id, [person.id])
    return info[person.id].masked if person.id in info else None


def wrong_check_digit(number: str) -> str:
    return number[:11] + str((int(number[11]) + 1) % 10)


TOMORROW = "(tomorrow in Japan, worked out when the test runs, not when it is collected)"


def tomorrow() -> str:
    return (utcnow().astimezone(JST).date() + dt.timedelta(days=1)).isoformat()


def files_holding(directory: Path, numbers: list[str]) -> list[str]:
    """Database files (main, key store, their WAL) in which any of the numbers appears in clear."""
    found = []
    for path in sorted(directory.glob("*.db*")):
        content = path.read_bytes()
        found += [path.name for number in numbers if number.encode() in content]
    return found


async def register_and_confirm(client: AsyncTestClient[Litestar], path: str, data: dict[str, str]) -> str:
    """Post a number form, check the confirmation page shows the number, confirm; return the confirmation path."""
    response = await post(client, path, data)
    assert response.status_code in (302, 303), response.text[:800]
    location = response.headers["location"]
    page = await client.get(location)
    assert shown_numbers(page.text) == [data["number"]]
    confirmed = await post(client, location, {"confirmation": confirmation_token(page.text)})
    assert confirmed.headers["location"] == "/me"
    return str(location)


class TestTheWholeFlow:
    async def test_invite_sign_in_notice_register_self_and_two_dependants_then_only_masks(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        settings: Settings,
        world: World,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        employee = await make_employee(db, world.tenant.id, "1001", "山田 太郎")
        await db.commit()
        (letter,) = await invite_as_admin(client, world, employee)
        assert "ログインＩＤ1001" in letter

        await first_sign_in(client, "acme", "1001", one_time_password(letter))

        assert (await client.get("/me/number", follow_redirects=False)).headers["location"] == "/me/notice"
        notice = await client.get("/me/notice")
        assert "源泉徴収票作成事務" in notice.text
        assert (await post(client, "/me/notice")).headers["location"] == "/me"
        assert (await fresh(db, employee)).notice_acknowledged_at is not None

        own, spouse, child = valid_my_number(11), valid_my_number(12), valid_my_number(13)
        form = await client.get("/me/number")
        assert 'inputmode="numeric"' in form.text and 'autocomplete="off"' in form.text
        assert "/static/number-check.js" in form.text
        location = await register_and_confirm(client, "/me/number", {"number": own})
        assert location == f"/me/people/{employee.id}/confirm"
        for name, kana, relationship, number in (
            ("山田 花子", "ヤマダ ハナコ", "配偶者", spouse),
            ("山田 一郎", "ヤマダ イチロウ", "子", child),
        ):
            data = {"name": name, "kana": kana, "relationship": relationship, "birth_date": "2015-05-05"}
            await register_and_confirm(client, "/me/dependants/new", {**data, "number": number})

        home = await client.get("/me")
        for number in (own, spouse, child):
            assert hides(home.text, number)
            assert "**********" + number[-2:] in home.text
        assert home.text.count("本人番号確認済") == 3
        family = await dependants(db, employee)
        assert [(p.name, p.kana, p.relationship, p.kind) for p in family] == [
            ("山田 花子", "ヤマダ ハナコ", Relationship.SPOUSE, PersonKind.DEPENDANT),
            ("山田 一郎", "ヤマダ イチロウ", Relationship.CHILD, PersonKind.DEPENDANT),
        ]
        assert all(p.status is CollectionStatus.SELF_CONFIRMED for p in [await fresh(db, employee), *family])
        actions = [(e.action, e.function, e.subject_name) for e in await entries(db, world.tenant.id)]
        assert ("修正", "利用目的の通知", "山田 太郎") in actions
        assert ("本人番号確認", "じぶんで登録", "山田 太郎 > 山田 花子") in actions
        assert sum(1 for a in actions if a[0] == "閲覧") == 3
        for number in (own, spouse, child):
            assert number not in caplog.text
            assert number not in json.dumps(details(await entries(db, world.tenant.id)), ensure_ascii=False)
        if settings.is_sqlite:
            assert files_holding(Path(settings.data_dir), [own, spouse, child]) == []


class TestOwnNumber:
    async def test_the_confirmation_shows_the_number_once_in_full(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
    ) -> None:
        await sign_in(client, me.persona)
        number = valid_my_number(21)
        location = (await post(client, "/me/number", {"number": number})).headers["location"]

        first = await client.get(location)
        second = await client.get(location, follow_redirects=False)

        assert shown_numbers(first.text) == [number]
        assert card_html(number) in first.text
        assert "この番号で確定する" in first.text and "入力し直す" in first.text
        assert 'href="/me/number"' in first.text
        assert "content-encoding" not in first.headers
        assert second.status_code in (302, 303) and second.headers["location"] == "/me/number"
        views = [e for e in await entries(db, world.tenant.id, "閲覧") if e.subject_person_id == me.person.id]
        assert [(e.purpose, e.function) for e in views] == [("本人による番号確認", "じぶんで登録")]

    async def test_a_number_not_shown_in_this_session_cannot_be_confirmed(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, me: Me
    ) -> None:
        await sign_in(client, me.persona)
        location = (await post(client, "/me/number", {"number": valid_my_number(22)})).headers["location"]

        response = await post(client, location)

        assert response.headers["location"] == "/me/number"
        assert (await fresh(db, me.person)).status is CollectionStatus.REGISTERED

    async def test_a_repeated_digit_number_gets_a_warning_on_the_confirmation(
        self, client: AsyncTestClient[Litestar], me: Me
    ) -> None:
        await sign_in(client, me.persona)
        location = (await post(client, "/me/number", {"number": "000000000000"})).headers["location"]

        page = await client.get(location)

        assert "同じ数字が並んだ番号です" in page.text

    async def test_re_entering_replaces_the_number_before_an_admin_confirmed_it(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, me: Me
    ) -> None:
        await sign_in(client, me.persona)
        first, second = valid_my_number(23), valid_my_number(24)
        await register_and_confirm(client, "/me/number", {"number": first})

        await register_and_confirm(client, "/me/number", {"number": second})

        assert await number_on_file(db, vault, me.person) == "**********" + second[-2:]
        assert (await fresh(db, me.person)).status is CollectionStatus.SELF_CONFIRMED

    @pytest.mark.parametrize(
        ("typed", "message"),
        [
            (wrong_check_digit(valid_my_number(25)), "個人番号が正しくありません（チェックデジットが一致しません）。"),
            ("12345678901", "個人番号は12桁で入力してください（入力されたのは11桁です）。"),
            ("1234abcd5678", "個人番号は数字だけで入力してください（数字以外の文字が含まれています）。"),
            ("", "個人番号を入力してください。"),
        ],
    )
    async def test_a_bad_number_is_refused_in_japanese_and_never_echoed(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        vault: Vault,
        world: World,
        me: Me,
        typed: str,
        message: str,
    ) -> None:
        await sign_in(client, me.persona)

        response = await post(client, "/me/number", {"number": typed})

        assert response.status_code == 400
        assert message in response.text
        assert 'name="number" type="text" value=""' in response.text
        if typed:
            assert hides(response.text, typed)
        assert (await fresh(db, me.person)).status is CollectionStatus.NOT_REGISTERED
        assert await number_on_file(db, vault, me.person) is None
        assert await entries(db, world.tenant.id, "登録") == []

    async def test_an_admin_confirmed_number_leads_to_the_correction_request(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, me: Me
    ) -> None:
        await give_number(db, vault, me.person, valid_my_number(27), Channel.SELF)
        await confirm_by_admin(db, actor=ACTOR, person=me.person)
        await db.commit()
        await sign_in(client, me.persona)

        response = await client.get("/me/number", follow_redirects=False)
        refused = await post(client, "/me/number", {"number": valid_my_number(28)})

        assert response.headers["location"] == f"/me/people/{me.person.id}/correction"
        assert refused.status_code == 400
        assert "管理者が確認済みの番号は変更できません" in refused.text


class TestNotice:
    async def test_registration_waits_for_the_purpose_notice(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, vault: Vault, world: World
    ) -> None:
        newcomer = await linked_employee(db, settings, vault, world, "1003", "新人 花子", acknowledged=False)
        await sign_in(client, newcomer.persona)
        own = f"/me/people/{newcomer.person.id}"

        for path in ("/me", "/me/number", "/me/dependants/new", f"{own}/decline", f"{own}/correction"):
            assert (await client.get(path, follow_redirects=False)).headers["location"] == "/me/notice", path
        refused = await post(client, "/me/number", {"number": valid_my_number(31)})

        assert refused.headers["location"] == "/me/notice"
        assert (await fresh(db, newcomer.person)).status is CollectionStatus.NOT_REGISTERED

    async def test_the_acknowledgement_is_recorded_with_the_time_and_logged_once(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, vault: Vault, world: World
    ) -> None:
        world.tenant.purpose_notice = "当社の利用目的：源泉徴収票作成事務のみ"
        db.add(world.tenant)
        newcomer = await linked_employee(db, settings, vault, world, "1003", "新人 花子", acknowledged=False)
        await sign_in(client, newcomer.persona)

        assert "当社の利用目的：源泉徴収票作成事務のみ" in (await client.get("/me/notice")).text
        await post(client, "/me/notice")
        await post(client, "/me/notice")

        acknowledged = (await fresh(db, newcomer.person)).notice_acknowledged_at
        assert acknowledged is not None and utcnow() - acknowledged < dt.timedelta(minutes=5)
        logged = [e for e in await entries(db, world.tenant.id) if e.function == "利用目的の通知"]
        assert len(logged) == 1 and logged[0].subject_person_id == newcomer.person.id
        assert "確認済みです" in (await client.get("/me/notice")).text

    async def test_an_account_without_an_employee_record_is_told_whom_to_ask(
        self, client: AsyncTestClient[Litestar], world: World
    ) -> None:
        await sign_in(client, world.employee)

        response = await client.get("/me")

        assert response.status_code == 200
        assert "従業員情報と結び付いていない" in response.text
        assert (await client.get("/me/number", follow_redirects=False)).headers["location"] == "/me"


DEPENDANT = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "relationship": "配偶者", "birth_date": "1988-02-03"}


class TestDependants:
    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"relationship": ""}, "続柄を選択してください。"),
            ({"birth_date": TOMORROW}, "生年月日に未来の日付は指定できません。"),
            ({"number": wrong_check_digit(valid_my_number(41))}, "チェックデジットが一致しません"),
            ({"number": "12345678901"}, "個人番号は12桁で入力してください"),
            ({"number": "1234abcd5678"}, "個人番号は数字だけで入力してください"),
            ({"name": ""}, "氏名を入力してください。"),
            ({"kana": "ヤマダ " + valid_my_number(49)}, "12桁以上の数字は入力できません"),
            ({"name": "山田 一二三四五六七八九〇一八"}, "12桁以上の数字は入力できません"),
        ],
    )
    async def test_bad_input_keeps_the_form_but_not_the_number_and_saves_nothing(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        world: World,
        me: Me,
        changes: dict[str, str],
        message: str,
    ) -> None:
        await sign_in(client, me.persona)
        typed = {**DEPENDANT, "number": valid_my_number(42), **changes}
        typed = {key: tomorrow() if value is TOMORROW else value for key, value in typed.items()}

        response = await post(client, "/me/dependants/new", typed)

        assert response.status_code == 400
        assert message in response.text
        for key in ("name", "kana", "birth_date"):
            if typed[key] and not contains_digit_run(typed[key]):
                assert f'value="{typed[key]}"' in response.text
            elif typed[key]:
                assert typed[key] not in response.text
        if typed["relationship"]:
            assert f'<option value="{typed["relationship"]}" selected>' in response.text
        assert hides(response.text, typed["number"])
        assert hides(response.text, valid_my_number(49))
        assert 'name="number" type="text" value=""' in response.text
        assert await dependants(db, me.person) == []
        assert await entries(db, world.tenant.id, "登録") == []

    async def test_a_dependant_can_be_added_without_a_number_and_given_one_later(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, me: Me
    ) -> None:
        await sign_in(client, me.persona)

        added = await post(client, "/me/dependants/new", DEPENDANT)
        (spouse,) = await dependants(db, me.person)
        number = valid_my_number(44)
        await register_and_confirm(client, f"/me/dependants/{spouse.id}/edit", {**DEPENDANT, "number": number})

        assert added.headers["location"] == "/me"
        assert (await fresh(db, spouse)).status is CollectionStatus.SELF_CONFIRMED
        assert await number_on_file(db, vault, spouse) == "**********" + number[-2:]

    async def test_editing_before_admin_confirmation_replaces_the_number(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, me: Me
    ) -> None:
        child = await make_dependant(db, me.person, "山田 一郎")
        await give_number(db, vault, child, valid_my_number(45), Channel.SELF)
        await db.commit()
        await sign_in(client, me.persona)
        form = await client.get(f"/me/dependants/{child.id}/edit")
        assert 'value="山田 一郎"' in form.text

        new_number = valid_my_number(46)
        edited = {"name": "山田 一朗", "kana": "ヤマダ イチロウ", "relationship": "子", "birth_date": "2012-06-01"}
        await register_and_confirm(client, f"/me/dependants/{child.id}/edit", {**edited, "number": new_number})

        refreshed = await fresh(db, child)
        assert (refreshed.name, refreshed.status) == ("山田 一朗", CollectionStatus.SELF_CONFIRMED)
        assert await number_on_file(db, vault, child) == "**********" + new_number[-2:]

    async def test_after_admin_confirmation_a_dependant_is_changed_only_by_request(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, me: Me
    ) -> None:
        child = await make_dependant(db, me.person, "山田 一郎")
        await give_number(db, vault, child, valid_my_number(47), Channel.SELF)
        await confirm_by_admin(db, actor=ACTOR, person=child)
        await db.commit()
        await sign_in(client, me.persona)

        page = await client.get(f"/me/dependants/{child.id}/edit", follow_redirects=False)
        refused = await post(client, f"/me/dependants/{child.id}/edit", {**DEPENDANT, "number": valid_my_number(48)})

        assert page.headers["location"] == f"/me/people/{child.id}/correction"
        assert refused.status_code == 400
        assert "修正を依頼する" in refused.text
        assert (await fresh(db, child)).name == "山田 一郎"


class TestCorrection:
    async def test_after_admin_confirmation_the_employee_files_a_request(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, world: World, me: Me
    ) -> None:
        await give_number(db, vault, me.person, valid_my_number(51), Channel.SELF)
        await confirm_by_admin(db, actor=ACTOR, person=me.person)
        await db.commit()
        await sign_in(client, me.persona)
        path = f"/me/people/{me.person.id}/correction"
        assert f'href="{path}"' in (await client.get("/me")).text
        assert "番号が変わった（再発行）" in (await client.get(path)).text

        response = await post(client, path, {"reason": "reissued", "note": "カードを再発行しました"})
        again = await post(client, path, {"reason": "mistake"})

        assert response.headers["location"] == "/me"
        requests = list((await db.execute(select(CorrectionRequest))).scalars())
        assert [(r.person_id, r.reason, r.note, r.status) for r in requests] == [
            (me.person.id, "reissued", "カードを再発行しました", RequestStatus.PENDING)
        ]
        assert requests[0].requested_by == me.persona.account.id
        assert details(await entries(db, world.tenant.id, "修正依頼")) == [{"reason": "reissued"}]
        assert "修正を依頼しています" in (await client.get("/me")).text
        assert again.status_code == 400 and "すでに修正を依頼しています" in again.text

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"reason": ""}, "修正の理由を選択してください。"),
            ({"reason": "other", "note": "正しくは " + valid_my_number(52)}, "12桁以上の数字は入力できません"),
            ({"reason": "other", "note": "正しくは 一二三四 五六七八 九〇一八"}, "12桁以上の数字は入力できません"),
        ],
    )
    async def test_a_bad_request_is_refused_and_nothing_is_filed(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        vault: Vault,
        me: Me,
        data: dict[str, str],
        message: str,
    ) -> None:
        await give_number(db, vault, me.person, valid_my_number(53), Channel.SELF)
        await confirm_by_admin(db, actor=ACTOR, person=me.person)
        await db.commit()
        await sign_in(client, me.persona)

        response = await post(client, f"/me/people/{me.person.id}/correction", data)

        assert response.status_code == 400
        assert message in response.text
        assert hides(response.text, valid_my_number(52))
        assert (await db.execute(select(func.count()).select_from(CorrectionRequest))).scalar() == 0

    async def test_before_admin_confirmation_the_entry_is_simply_corrected(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, vault: Vault, me: Me
    ) -> None:
        await give_number(db, vault, me.person, valid_my_number(54), Channel.SELF)
        await db.commit()
        await sign_in(client, me.persona)

        response = await client.get(f"/me/people/{me.person.id}/correction", follow_redirects=False)

        assert response.headers["location"] == "/me/number"


class TestDecline:
    async def test_the_employee_declines_with_a_reason_the_admin_can_read_and_can_withdraw(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, world: World, me: Me
    ) -> None:
        child = await make_dependant(db, me.person, "山田 一郎")
        await db.commit()
        await sign_in(client, me.persona)

        declined = await post(client, f"/me/people/{child.id}/decline", {"reason": "本人の意向のため"})

        assert declined.headers["location"] == "/me"
        stored = await fresh(db, child)
        assert (stored.status, stored.decline_reason) == (CollectionStatus.DECLINED, "本人の意向のため")
        assert "提供しないと届け出ています（理由：本人の意向のため）" in (await client.get("/me")).text
        assert [e.subject_person_id for e in await entries(db, world.tenant.id, "提供拒否")] == [child.id]

        withdrawn = await post(client, f"/me/people/{child.id}/withdraw")

        assert withdrawn.headers["location"] == f"/me/dependants/{child.id}/edit"
        assert (await fresh(db, child)).status is CollectionStatus.NOT_REGISTERED

    @pytest.mark.parametrize(
        ("reason", "message"),
        [
            ("", "提供しない理由を入力してください。"),
            (valid_my_number(61), "12桁以上の数字は入力できません"),
            ("番号は一二三四五六七八九〇一八", "12桁以上の数字は入力できません"),
        ],
    )
    async def test_a_decline_needs_a_reason_that_is_not_a_number(
        self, client: AsyncTestClient[Litestar], db: AsyncSession, me: Me, reason: str, message: str
    ) -> None:
        await sign_in(client, me.persona)

        response = await post(client, f"/me/people/{me.person.id}/decline", {"reason": reason})

        assert response.status_code == 400
        assert message in response.text
        if reason:
            assert reason not in response.text
        assert (await fresh(db, me.person)).status is CollectionStatus.NOT_REGISTERED


PERSON_ROUTES = [
    ("GET", "/me/people/{id}/confirm"),
    ("POST", "/me/people/{id}/confirm"),
    ("GET", "/me/people/{id}/correction"),
    ("POST", "/me/people/{id}/correction"),
    ("GET", "/me/people/{id}/decline"),
    ("POST", "/me/people/{id}/decline"),
    ("POST", "/me/people/{id}/withdraw"),
    ("GET", "/me/dependants/{id}/edit"),
    ("POST", "/me/dependants/{id}/edit"),
]


class TestIsolation:
    async def test_another_employees_or_another_tenants_people_are_not_found(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        settings: Settings,
        vault: Vault,
        world: World,
        me: Me,
    ) -> None:
        colleague = await linked_employee(db, settings, vault, world, "1002", "鈴木 奈々子")
        colleague_child = await make_dependant(db, colleague.person, "鈴木 翔")
        await give_number(db, vault, colleague_child, valid_my_number(71), Channel.SELF)
        stranger = await make_employee(db, world.other_tenant.id, "1001", "よその 社員")
        stranger_child = await make_dependant(db, stranger, "よその 子")
        await db.commit()
        await sign_in(client, me.persona)
        foreign = [colleague.person, colleague_child, stranger, stranger_child]
        data = {**DEPENDANT, "reason": "mistake", "number": valid_my_number(72)}

        problems = []
        for person_id in [*(str(p.id) for p in foreign), str(uuid.uuid4()), "not-an-id"]:
            for method, template in PERSON_ROUTES:
                path = template.replace("{id}", person_id)
                if method == "GET":
                    response = await client.get(path, follow_redirects=False)
                else:
                    response = await post(client, path, data)
                if response.status_code != 404:
                    problems.append(f"{method} {path} -> {response.status_code}")

        assert problems == []
        for person in foreign:
            assert (await fresh(db, person)).status in (CollectionStatus.NOT_REGISTERED, CollectionStatus.REGISTERED)
        assert (await fresh(db, colleague_child)).name == "鈴木 翔"

    async def test_the_home_page_lists_only_the_employees_own_family(
        self,
        client: AsyncTestClient[Litestar],
        db: AsyncSession,
        settings: Settings,
        vault: Vault,
        world: World,
        me: Me,
    ) -> None:
        colleague = await linked_employee(db, settings, vault, world, "1002", "鈴木 奈々子")
        await make_dependant(db, colleague.person, "鈴木 翔")
        await make_dependant(db, me.person, "山田 一郎")
        await db.commit()
        await sign_in(client, me.persona)

        home = (await client.get("/me")).text

        assert "山田 太郎" in home and "山田 一郎" in home
        assert "鈴木" not in home

    async def test_staff_cannot_use_the_employee_pages(
        self, client: AsyncTestClient[Litestar], world: World, me: Me
    ) -> None:
        await sign_in(client, world.admin)

        assert (await client.get("/me")).status_code == 403
        assert (await client.get(f"/me/people/{me.person.id}/confirm")).status_code == 403


def node_assess(inputs: list[str]) -> list[list[Any]]:
    script = (
        "const {assess} = require(process.argv[1]);"
        "const inputs = JSON.parse(process.argv[2]);"
        "console.log(JSON.stringify(inputs.map((t) => assess(t, true, false))));"
    )
    result = subprocess.run(
        ["node", "-e", script, str(STATIC / "number-check.js"), json.dumps(inputs)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


class TestNumberCheckScript:
    @pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
    def test_it_agrees_with_the_server_on_every_kind_of_input(self) -> None:
        valid = [valid_my_number(seed) for seed in range(40)]
        inputs = [
            *valid,
            *(wrong_check_digit(n) for n in valid),
            "1234 5678 9018",
            "１２３４－５６７８－９０１８",
            "12345678901",
            "1234567890123",
            "1234abcd5678",
            "",
            "000000000000",
        ]
        expected = []
        for text in inputs:
            try:
                normalize_my_number(text)
                expected.append(None)
            except InvalidNumber as exc:
                expected.append(exc.message)

        results = node_assess(inputs)

        assert [message if final else None for message, final in results] == expected

    def test_it_never_sends_anything_anywhere(self) -> None:
        script = (STATIC / "number-check.js").read_text()

        for forbidden in ("fetch(", "XMLHttpRequest", "sendBeacon", "WebSocket", "localStorage", "sessionStorage"):
            assert forbidden not in script
