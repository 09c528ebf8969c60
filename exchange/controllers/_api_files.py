"""The JSON API's files (issue 10): ``GET /api/v1/exports/numbers`` and ``POST /api/v1/imports``.

- **Export**: the same file as the export page (``plan_export`` then ``download_response``: streamed, ``no-store``,
  never compressed), one CSV出力 entry per person in the file, the token's name as the actor. Scope
  ``numbers:read``; the token's scope stands for the page's step-up (the principal is given a fresh one). cp932
  without ``replace=true`` and a character cp932 cannot hold: 422 with the list (person id, row, column, character;
  never a value of a cell).
- **Import**: the check (``commit=false``: the report as JSON, nothing written) or the commit (``commit=true``: the
  whole file in one transaction, or 422 with the report and nothing written). Scope ``numbers:write`` for both;
  a commit needs ``people:write`` as well (it may add and update people). The API runs the file inside the call:
  at most ``API_MAX_ROWS`` rows and ``MAX_UPLOAD_BYTES`` bytes (413 beyond: split the file); bigger files go
  through the import page's background jobs. The upload stays in memory (``app.http.keep_uploads_in_memory``).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from app.problems import INSUFFICIENT_SCOPE, PROBLEM_MEDIA_TYPE, ApiProblem, FieldError, Problem
from app.vault import Vault
from exchange import services
from exchange.controllers._api_auth import problem_example, problems, requires
from exchange.controllers._download import DOWNLOAD_OPT, download_response
from exchange.controllers._import import MAX_UPLOAD_BYTES
from exchange.encoding import Encoding
from exchange.schemas import (
    EXAMPLE_DEPARTMENT_ID,
    ImportCountsRead,
    ImportLine,
    ImportResult,
    ImportWritten,
    UnencodableCharacter,
)
from tenants.purposes import PURPOSES

API_MAX_ROWS = 20_000  # rows an import call checks or commits inside the call
API_MAX_LINES = 1000  # report lines an answer carries (the rest counted in ``omitted_lines``)
UNENCODABLE = "urn:mnvault:problem:unencodable"
UNPLACED = "urn:mnvault:problem:unplaced-dependants"
IMPORT_REFUSED = "urn:mnvault:problem:import-refused"
TOO_LARGE = "urn:mnvault:problem:too-large"
Layout = Literal["seed", "full", "withholding"]
EncodingName = Literal["cp932", "utf-8-sig", "xlsx"]


def _opt(scope: str) -> dict[str, Any]:
    return {**requires(scope), **DOWNLOAD_OPT}


EXPORT_PROBLEMS = problems(400, 404, 422)
EXPORT_PROBLEMS[422].examples = [
    problem_example(
        422,
        UNENCODABLE,
        "cp932 で出力できない文字があります",
        "cp932（Shift_JIS）で出力できない文字が1か所あります。"
        "encoding=utf-8-sig か xlsx で出力するか、replace=true で「〓」に置き換えてください。",
        characters=[
            {
                "person_id": "0192c1b2-3e4f-7a8b-9c0d-1e2f3a4b5c6d",
                "line": 2,
                "column": "社員名",
                "character": "𠮷",
                "code_points": "U+20BB7",
            }
        ],
        total=1,
    ),
    problem_example(
        422,
        UNPLACED,
        "源泉徴収票の欄に入らない扶養家族がいます",
        "源泉徴収票の欄（控除対象扶養親族・16歳未満の扶養親族は各4人まで）に入らない扶養家族が1人います。"
        "摘要欄に書くなど別に扱ったうえで、omit_unplaced=true で出力してください（この人たちはファイルに書きません）。",
        dependants=[{"employee_code": "0100", "employee_name": "髙橋 一郎", "name": "髙橋 八男", "relationship": "子"}],
        total=1,
    ),
]


def _unencodable(plan: services.ExportPlan) -> ApiProblem:
    """422 listing every character a cp932 file would not hold as stored: those it cannot hold at all (「〓」 with
    replace=true), and those it writes otherwise (a variation selector dropped, a compatibility ideograph written as
    its twin). The page shows them before its download; an API caller gets the list and consents with
    replace=true (issue 10: never a crash, never silent)."""
    characters = [
        UnencodableCharacter(
            person_id=issue.person_id,
            line=issue.line,
            column=issue.column,
            character=issue.char,
            code_points=issue.code_points,
            action=issue.action.value,
        )
        for issue in plan.issues
    ]
    detail = (
        f"cp932（Shift_JIS）では保存された文字のとおりに書けない文字が{plan.issue_count:,}か所あります"
        f"（書けない文字 {plan.refused_count:,}か所、異体字セレクタや互換漢字 "
        f"{plan.issue_count - plan.refused_count:,}か所）。encoding=utf-8-sig か xlsx で出力するか、"
        "replace=true で置き換え（書けない文字は「〓」、異体字セレクタは外す）を承知のうえ出力してください。"
    )
    return ApiProblem(
        422,
        detail,
        type=UNENCODABLE,
        title="cp932 で出力できない文字があります",
        extensions={"characters": msgspec.to_builtins(characters), "total": plan.issue_count},
    )


def _unplaced(plan: services.ExportPlan) -> ApiProblem:
    """422 listing the dependants a 源泉徴収票 file has no slot for (four of each kind): the page lists them before
    its download; an API caller gets the list and consents with omit_unplaced=true (never silent)."""
    detail = (
        f"源泉徴収票の欄（控除対象扶養親族・16歳未満の扶養親族は各4人まで）に入らない扶養家族が{plan.unplaced_count:,}人"
        "います。摘要欄に書くなど別に扱ったうえで、omit_unplaced=true で出力してください"
        "（この人たちはファイルに書きません）。"
    )
    return ApiProblem(
        422,
        detail,
        type=UNPLACED,
        title="源泉徴収票の欄に入らない扶養家族がいます",
        extensions={"dependants": msgspec.to_builtins(list(plan.unplaced)), "total": plan.unplaced_count},
    )


class ExportsApi(Controller):
    """Files for payroll software, as the export page makes them."""

    path = "/exports"

    @get(
        "/numbers",
        opt=_opt("numbers:read"),
        summary="番号を含むファイルの出力",
        description="エクスポート画面と同じファイル（同じバイト列）を返します。対象者は部門・区分・状態で絞り込めます"
        "（指定しなければ全員）。ファイルに書いた人ごとに「CSV出力」として操作履歴に記録します（利用目的つき）。"
        "利用目的を本人に通知していない人は出力しません。cp932 で出力できない文字があると 422 で一覧を返します"
        "（replace=true なら「〓」に置き換えて出力）。源泉徴収票形式で欄（各4人）に入らない扶養家族がいると 422 で"
        "一覧を返します（omit_unplaced=true なら書かずに出力）。応答は text/csv（cp932 は charset=Shift_JIS）"
        "または Excel（.xlsx）で、Content-Disposition にファイル名が入ります。",
        responses=EXPORT_PROBLEMS,
    )
    async def export_numbers(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: services.ApiPrincipal,
        purpose: Annotated[
            str,
            Parameter(
                description="利用目的（事業者が本人に通知したもの）。必須",
                schema_extra={"enum": list(PURPOSES)},
                examples=[Example(summary="源泉徴収票", value=PURPOSES[0])],
            ),
        ],
        layout: Annotated[
            Layout, Parameter(description="seed: 基本、full: 詳細、withholding: 源泉徴収票（1人1行）")
        ] = "seed",
        encoding: Annotated[
            EncodingName, Parameter(description="cp932（CRLF、既定）、utf-8-sig（BOM付き）、xlsx")
        ] = "cp932",
        department: Annotated[
            uuid.UUID | None,
            Parameter(description="部門の ID", examples=[Example(value=EXAMPLE_DEPARTMENT_ID)]),
        ] = None,
        kind: Annotated[Literal["employee", "dependant", "payee"] | None, Parameter(description="区分")] = None,
        status: Annotated[str | None, Parameter(max_length=40, description="番号の状態（一覧と同じ値）")] = None,
        replace: Annotated[bool, Parameter(description="cp932 で出力できない文字を「〓」に置き換える")] = False,
        year: Annotated[int | None, Parameter(ge=2016, le=2100, description="源泉徴収票形式の年分")] = None,
        omit_unplaced: Annotated[
            bool, Parameter(description="源泉徴収票形式で、欄（各4人）に入らない扶養家族を書かずに出力する")
        ] = False,
    ) -> Stream:
        params = {
            "layout": layout,
            "encoding": encoding,
            "numbers": "1",
            "purpose": purpose,
            "replace": "1" if replace else "",
            "year": str(year) if year is not None else "",
            "department": str(department) if department else "",
            "kind": kind or "",
            "status": status or "",
        }
        request = services.ExportRequest.from_params(params)  # FormInvalid: 422 with the fields
        # The token's numbers:read scope is what the page's step-up is: the export helper checks it on principals.
        stepped_up = dataclasses.replace(principal, stepup_fresh=True)
        plan = await services.plan_export(db_session, stepped_up, request)
        if plan.outcome is services.Outcome.EMPTY:
            raise ApiProblem(
                422,
                "出力する対象者がいません。絞り込みの条件と利用目的（通知した相手）をご確認ください。",
                extensions={"not_notified": plan.not_notified},
            )
        if plan.encoding is Encoding.CP932 and plan.issue_count and not request.replace_unencodable:
            raise _unencodable(plan)
        if plan.unplaced_count and not omit_unplaced:
            raise _unplaced(plan)
        try:
            return download_response(db_session, vault, stepped_up, principal.actor(), plan)
        except services.UnencodableCharacters as exc:
            raise _unencodable(exc.plan) from None


@dataclasses.dataclass
class ImportUpload:
    """The multipart body of an import: ``file``, a CSV (cp932 or UTF-8) or an Excel workbook (.xlsx), sent as a
    file part (with a filename)."""

    file: UploadFile


IMPORT_EXAMPLE = Example(
    summary="CSV ファイル（multipart/form-data の file、ファイル名つきのパート）",
    value={"file": "社員コード,社員名,…（seed 形式の CSV、cp932）"},
)
IMPORT_PROBLEMS = problems(400, 415, 422)
IMPORT_PROBLEMS[413] = ResponseSpec(
    data_container=Problem,
    description="ファイルが大きすぎます",
    media_type=PROBLEM_MEDIA_TYPE,
    examples=[
        problem_example(
            413,
            TOO_LARGE,
            "ファイルが大きすぎます",
            f"API で一度に取り込めるのは{API_MAX_ROWS:,}行までです。ファイルを分けて送ってください。",
        )
    ],
)
IMPORT_PROBLEMS[422].examples = [
    problem_example(
        422,
        IMPORT_REFUSED,
        "取り込めません",
        "エラーがあるため取り込めません。報告の内容に沿ってファイルを直し、もう一度読み込んでください。",
        report={
            "layout": "seed",
            "committed": False,
            "committable": False,
            "rejected": "",
            "counts": {"rows": 1, "errors": 1},
            "lines": [
                {
                    "line": 2,
                    "column": "マイナンバー",
                    "level": "error",
                    "code": "check_digit",
                    "message": "マイナンバーのチェックデジットが正しくありません。",
                }
            ],
            "omitted_lines": 0,
        },
    )
]


def _result(report: services.ImportReport, outcome: services.ImportOutcome | None = None) -> ImportResult:
    counts = report.counts
    lines = [
        ImportLine(line=line.line, column=line.column, level=line.level, code=str(line.code), message=line.message)
        for line in report.lines[:API_MAX_LINES]
    ]
    written = None
    if outcome is not None:
        written = ImportWritten(
            registered=outcome.registered,
            replaced=outcome.replaced,
            people_added=outcome.people_added,
            people_updated=outcome.people_updated,
            departments_added=outcome.departments_added,
            flagged=outcome.flagged,
        )
    return ImportResult(
        layout=report.layout,
        committed=outcome is not None,
        committable=not report.has_errors,
        rejected=report.rejected,
        counts=ImportCountsRead(**{name: getattr(counts, name) for name in ImportCountsRead.__struct_fields__}),
        lines=lines,
        omitted_lines=max(0, len(report.lines) - API_MAX_LINES) + report.omitted,
        written=written,
    )


def _refused(report: services.ImportReport, message: str) -> ApiProblem:
    return ApiProblem(
        422,
        message,
        type=IMPORT_REFUSED,
        title="取り込めません",
        extensions={"report": msgspec.to_builtins(_result(report))},
    )


class ImportsApi(Controller):
    """Registering numbers from a payroll file: check, then commit."""

    path = "/imports"

    @post(
        "/",
        opt=_opt("numbers:write"),
        status_code=200,
        request_max_body_size=MAX_UPLOAD_BYTES,
        summary="ファイルの取込（確認・登録）",
        description="multipart/form-data の file で送ったファイルを、管理画面の取込と同じ規則で確認します。"
        "commit=false（既定）は確認だけ（何も登録しません）で、報告を返します。commit=true はファイル全体を1つの"
        "トランザクションで取り込み（番号は代理登録、1件ごとに操作履歴）、エラー（または accept_warnings=true なしの"
        f"警告）があれば 422 と報告を返して何も登録しません。権限は numbers:write、commit=true には people:write も"
        f"必要です。1回の呼び出しで扱えるのは{API_MAX_ROWS:,}行・{MAX_UPLOAD_BYTES // 1_000_000}MB までです"
        f"（超えると 413）。報告の指摘は最大{API_MAX_LINES:,}件で、残りは omitted_lines に数えます。",
        responses=IMPORT_PROBLEMS,
    )
    async def import_file(
        self,
        db_session: AsyncSession,
        vault: Vault,
        principal: services.ApiPrincipal,
        data: Annotated[
            ImportUpload,
            Body(
                media_type=RequestEncodingType.MULTI_PART,
                title="取り込むファイル",
                description="file: CSV（cp932 か UTF-8）か Excel（.xlsx）。ファイル名つきのパートで送ります",
                examples=[IMPORT_EXAMPLE],
            ),
        ],
        layout: Annotated[Layout, Parameter(description="seed: 基本、full: 詳細、withholding: 源泉徴収票")],
        commit: Annotated[bool, Parameter(description="true: 取り込む、false: 確認だけ")] = False,
        accept_warnings: Annotated[bool, Parameter(description="警告を確認したうえで取り込む")] = False,
    ) -> ImportResult:
        if commit and not principal.allows("people:write"):
            raise ApiProblem(
                403,
                "取込（commit=true）には権限「people:write」も必要です。管理者に、この権限を持つトークンの発行を"
                "依頼してください（確認だけなら commit=false で呼び出せます）。",
                type=INSUFFICIENT_SCOPE,
                extensions={"required_scope": "people:write"},
            )
        content = await data.file.read() if isinstance(data.file, UploadFile) else b""
        if not content:
            raise ApiProblem(
                400,
                "file にファイルを入れて送ってください。",
                errors=[FieldError(field="file", pointer="file", detail="ファイルが空です。")],
            )
        if services.estimated_rows(content) > API_MAX_ROWS:
            raise ApiProblem(
                413,
                f"API で一度に取り込めるのは{API_MAX_ROWS:,}行までです。ファイルを分けて送ってください。",
                type=TOO_LARGE,
                title="ファイルが大きすぎます",
            )
        if not commit:
            return _result(await services.check_import(db_session, vault, principal, content, layout))
        try:
            outcome = await services.commit_import(
                db_session, vault, principal, principal.actor(), content, layout, accept_warnings
            )
        except services.ImportRefused as exc:
            await db_session.rollback()  # nothing of the file stays (the vault drops the keys it wrote)
            raise _refused(exc.report, exc.message) from None
        await vault.commit(db_session)
        return _result(outcome.report, outcome)


ROUTES: list[Any] = [ExportsApi, ImportsApi]
