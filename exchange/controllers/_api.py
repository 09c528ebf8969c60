"""The JSON API for payroll software, ``/api/v1`` (issue 10): people and numbers, with scoped tokens.

Authentication, scopes, problem+json and the call log: ``_api_auth``. Add an endpoint by declaring its scope
(``opt=requires(...)``) and its documented problems (``responses=problems(...)``), and listing its controller in
``ROUTES`` below (inside :func:`api_router`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final, Literal

from litestar import Controller, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import Body, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.problems import ApiProblem, FieldError
from app.vault import Vault
from exchange import services
from exchange.controllers._api_auth import api_router, problems, requires
from exchange.controllers._api_files import ROUTES as FILE_ROUTES
from exchange.schemas import (
    EXAMPLE_DEPARTMENT_ID,
    EXAMPLE_PERSON_ID,
    NumberRegistration,
    NumbersRead,
    NumbersReadRequest,
    PeoplePage,
    PersonCreate,
    PersonRead,
    PersonUpdate,
    RegisteredNumber,
)
from tenants.purposes import PURPOSES
from tenants.services import PeopleNotFound

KindFilter = Literal["employee", "dependant", "payee"]
StatusFilter = Literal[
    "not_registered",
    "unconfirmed",
    "registered",
    "proxy_registered",
    "self_confirmed",
    "admin_confirmed",
    "declined",
    "erased",
    "duplicate",
]
NO_COMPRESSION = {"no_compression": True}  # a response with numbers is never gzipped (BREACH-style guessing)


def _with(opt: dict[str, Any], *more: dict[str, Any]) -> dict[str, Any]:
    merged = dict(opt)
    for extra in more:
        merged.update(extra)
    return merged


CREATE_EXAMPLES = [
    Example(
        summary="従業員",
        value={
            "kind": "employee",
            "employee_code": "A0001",
            "name": "山田 太郎",
            "kana": "ヤマダ タロウ",
            "birth_date": "1985-04-01",
            "department_id": EXAMPLE_DEPARTMENT_ID,
            "hire_date": "2015-04-01",
        },
    ),
    Example(
        summary="扶養家族",
        value={"kind": "dependant", "employee_id": EXAMPLE_PERSON_ID, "name": "山田 花子", "relationship": "配偶者"},
    ),
    Example(summary="取引先（法人）", value={"kind": "payee", "payee_type": "corporation", "name": "株式会社サンプル"}),
]


# Query text: no control characters (the server refuses them before any handler: app.http). A cursor is the
# base64url text the list gave (app.paging.encode_cursor).
PRINTABLE: Final = r"^[^\x00-\x1f\x7f]*$"
CURSOR: Final = r"^[A-Za-z0-9_-]*$"


class PeopleApi(Controller):
    """People (従業員・扶養家族・取引先): masked numbers and statuses only."""

    path = "/people"

    @get(
        "/",
        opt=requires("people:read"),
        summary="対象者の一覧",
        description="マイナンバー一覧と同じ絞り込み・並び順で、マスクした番号と状態を返します。"
        "次のページは next_cursor を cursor に渡して読みます（null なら最後のページ）。"
        "この一覧が返したものではない cursor は 422 です。",
        responses=problems(400, 422),
    )
    async def list_people(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: services.ApiPrincipal,
        department: Annotated[uuid.UUID | None, Parameter(description="部門の ID（部門の対象者と扶養家族）")] = None,
        kind: Annotated[KindFilter | None, Parameter(description="区分")] = None,
        status: Annotated[
            StatusFilter | None,
            Parameter(description="番号の状態（unconfirmed: 未確認のすべて、duplicate: 重複の疑い）"),
        ] = None,
        name: Annotated[
            str, Parameter(max_length=100, pattern=PRINTABLE, description="氏名・フリガナ（部分一致）")
        ] = "",
        code: Annotated[str, Parameter(max_length=32, pattern=PRINTABLE, description="社員コード（完全一致）")] = "",
        sort: Annotated[Literal["department", "code", "registered"], Parameter(description="並び順")] = "department",
        order: Literal["asc", "desc"] = "asc",
        limit: Annotated[int, Parameter(ge=1, le=services.MAX_LIMIT, description="1ページの件数")] = (
            services.DEFAULT_LIMIT
        ),
        cursor: Annotated[
            str, Parameter(max_length=2000, pattern=CURSOR, description="前のページの next_cursor（そのまま渡す）")
        ] = "",
    ) -> PeoplePage:
        query = services.PeopleQuery(
            department=str(department) if department else "",
            kind=kind or "",
            status=status or "",
            name=name,
            code=code,
            sort=sort,
            order=order,
            limit=limit,
            cursor=cursor,
        )
        try:
            return await services.people_page(db_session, vault, principal, query)
        except services.CursorInvalid:
            raise ApiProblem(
                422,
                "cursor が無効です（この一覧の next_cursor ではないか、その行が一覧から外れました）。"
                "cursor を付けずに最初のページから読み直してください。",
                errors=[FieldError(field="cursor", pointer="cursor", detail="最初のページから読み直してください。")],
            ) from None

    @get(
        "/{person_id:str}",
        opt=requires("people:read"),
        summary="対象者",
        description="1人の対象者（マスクした番号と状態）。ほかの事業者の ID は 404 です。",
        responses=problems(404),
    )
    async def read_person(
        self, db_session: AsyncSession, vault: Vault, principal: services.ApiPrincipal, person_id: str
    ) -> PersonRead:
        return await services.read_person(db_session, vault, principal, person_id)

    @post(
        "/",
        opt=requires("people:write"),
        summary="対象者の追加",
        description="従業員・扶養家族・取引先を追加します（管理画面と同じ入力チェック）。番号は別に登録します。",
        responses=problems(400, 415, 422),
    )
    async def create_person(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: services.ApiPrincipal,
        data: Annotated[PersonCreate, Body(title="追加する対象者", examples=CREATE_EXAMPLES)],
    ) -> PersonRead:
        person = await services.create_person(db_session, principal, data)
        return await services.read_person(db_session, vault, principal, str(person.id))

    @patch(
        "/{person_id:str}",
        opt=requires("people:write"),
        summary="対象者の修正",
        description="指定した項目だけを変更します（管理画面と同じ入力チェック）。null か空文字で消去します。"
        "確認済みの番号がある人の氏名・フリガナ・生年月日を変えると、番号の再確認が必要になります。",
        responses=problems(400, 404, 415, 422),
    )
    async def update_person(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: services.ApiPrincipal,
        person_id: str,
        data: Annotated[
            PersonUpdate,
            Body(title="変更する項目", examples=[Example(summary="退職日", value={"retirement_date": "2026-03-31"})]),
        ],
    ) -> PersonRead:
        person = await services.update_person(db_session, principal, person_id, data)
        return await services.read_person(db_session, vault, principal, str(person.id))

    @post(
        "/{person_id:str}/number",
        opt=_with(requires("numbers:write"), NO_COMPRESSION),
        summary="番号の代理登録",
        description="対象者の番号を代理登録として登録します（管理画面の代理登録と同じ規則・操作履歴）。"
        "登録済みの番号は置き換えます。別の人と同じ番号は登録したうえで「重複の疑い」として記録します。",
        responses=problems(400, 404, 415, 422),
    )
    async def register_number(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: services.ApiPrincipal,
        person_id: str,
        data: Annotated[
            NumberRegistration,
            Body(title="登録する番号", examples=[Example(summary="個人番号", value={"number": "123456789018"})]),
        ],
    ) -> RegisteredNumber:
        return await services.register_number(db_session, vault, principal, person_id, data.number)


class NumbersApi(Controller):
    """Reading numbers for a notified purpose."""

    path = "/numbers:read"

    @post(
        "/",
        opt=_with(requires("numbers:read"), NO_COMPRESSION),
        status_code=200,
        summary="番号の取得",
        description="対象者（1〜100人）の番号を、事業者が本人に通知した利用目的を指定して取得します。"
        "返した番号1件ごとに「閲覧」として操作履歴に記録します。ほかの事業者の ID が含まれると 404 です。",
        responses=problems(400, 404, 415, 422),
    )
    async def read_numbers(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: services.ApiPrincipal,
        data: Annotated[
            NumbersReadRequest,
            Body(
                title="番号を取得する対象者と利用目的",
                examples=[Example(summary="源泉徴収票", value={"ids": [EXAMPLE_PERSON_ID], "purpose": PURPOSES[0]})],
            ),
        ],
    ) -> NumbersRead:
        try:
            return await services.read_numbers(db_session, vault, principal, data.ids, data.purpose)
        except PeopleNotFound as exc:
            missing = set(exc.ids)
            errors = [
                FieldError(field=f"ids[{index}]", pointer=f"#/ids/{index}", detail="この ID の対象者が見つかりません。")
                for index, person_id in enumerate(data.ids)
                if person_id in missing
            ]
            raise ApiProblem(
                404, "指定した ID の中に、見つからない対象者があります。errors の ID をご確認ください。", errors=errors
            ) from None


ROUTES: list[Any] = [api_router([PeopleApi, NumbersApi, *FILE_ROUTES])]
