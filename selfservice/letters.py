"""Printable letters: the employee invitation (one A4 page each) and the payee's one-time link sheet."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepInFrame,
    ListFlowable,
    ListItem,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
)

from app.pdf import (
    CONTENT_HEIGHT,
    CONTENT_WIDTH,
    GOTHIC,
    build_pdf,
    japanese_date,
    pdf_text,
    qr_code,
    styles,
    table_style,
)

INVITATION_TITLE = "マイナンバー登録のお願い"
PAYEE_TITLE = "マイナンバー（個人番号・法人番号）ご提供のお願い"

_QR_SIZE = 40 * mm
_QR_COLUMN = _QR_SIZE + 8 * mm
_LABEL_COLUMN = 29 * mm
_BOX_BACKGROUND = colors.HexColor("#f4f7fb")
_BOX_BORDER = colors.HexColor("#1f4e79")
_NOTE_BACKGROUND = colors.HexColor("#f2f2f2")
_DIGIT_RUN = re.compile(r"\d{12,}")


@dataclass(frozen=True, kw_only=True, slots=True)
class InvitationLetter:
    """What one employee's invitation letter shows."""

    company_name: str
    employee_name: str
    employee_code: str
    department_name: str
    tenant_code: str
    login_id: str
    initial_password: str = field(repr=False)
    sign_in_url: str
    expires_on: dt.date
    contact: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PayeeLinkSheet:
    """What a payee's one-time link sheet shows."""

    company_name: str
    payee_name: str
    link_url: str = field(repr=False)
    expires_on: dt.date
    contact: str


def contact_line(handler_name: str, phone: str) -> str:
    """Who to ask, as the letters and sheets print it: the handler, and the company's phone when there is one."""
    return f"マイナンバー管理担当者 {handler_name}" + (f"（電話 {phone}）" if phone else "")


def render_invitation_letters(letters: Sequence[InvitationLetter]) -> bytes:
    """One PDF with one A4 page per employee's invitation letter."""
    if not letters:
        raise ValueError("no invitation letters to render")
    story: list[Flowable] = []
    for index, letter in enumerate(letters):
        _refuse_secret_in_qr(letter.sign_in_url, letter.initial_password)
        if index:
            story.append(PageBreak())
        story.append(_one_page(_invitation_page(letter)))
    return build_pdf(story, title=INVITATION_TITLE, author=letters[0].company_name, subject="初回ログイン情報")


def render_payee_link_sheet(sheet: PayeeLinkSheet) -> bytes:
    """One A4 page asking a payee to register their number through a one-time link."""
    return build_pdf(
        [_one_page(_payee_page(sheet))], title=PAYEE_TITLE, author=sheet.company_name, subject="番号登録用リンク"
    )


def _refuse_secret_in_qr(url: str, password: str) -> None:
    # A QR code is readable by anyone who glimpses the paper: it may carry the tenant code, never the password
    # or a number. (A payee's link is itself the secret, and its random token may hold digit runs: not checked.)
    if password and password in url:
        raise ValueError("the sign-in URL must not contain the initial password")
    if _DIGIT_RUN.search(url):
        raise ValueError("the sign-in URL must not contain a run of 12 or more digits")


def _one_page(content: list[Flowable]) -> KeepInFrame:
    # Shrinks an unusually long name or contact to fit, so the PDF always has exactly one page per letter.
    return KeepInFrame(CONTENT_WIDTH, CONTENT_HEIGHT, content, mode="shrink")


def _p(text: str, style: str) -> Paragraph:
    return Paragraph(text, styles()[style])


def _e(value: str) -> str:
    return pdf_text(value)


def _header(addressee_lines: list[str], name: str, company_name: str) -> Table:
    left: list[Flowable] = [_p("親展", "mark"), Spacer(1, 2 * mm)]
    left += [_p(_e(line), "value") for line in addressee_lines if line]
    left.append(_p(f"{_e(name)}　様", "addressee"))
    right = [_p(_e(company_name), "sender"), _p("マイナンバー管理担当者", "sender")]
    table = Table([[left, right]], colWidths=[CONTENT_WIDTH * 0.55, CONTENT_WIDTH * 0.45])
    table.setStyle(table_style([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
    return table


def _credentials_box(rows: list[tuple[str, Flowable]], qr_url: str, qr_caption: str) -> Table:
    inner = Table(
        [[_p(label, "label"), value] for label, value in rows],
        colWidths=[_LABEL_COLUMN, CONTENT_WIDTH - _QR_COLUMN - _LABEL_COLUMN - 4 * mm],
    )
    inner.setStyle(
        table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, -2), 0.4, colors.HexColor("#c9d3df")),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    qr_cell = [qr_code(qr_url, _QR_SIZE), _p(qr_caption, "caption")]
    box = Table([[inner, qr_cell]], colWidths=[CONTENT_WIDTH - _QR_COLUMN, _QR_COLUMN])
    box.setStyle(
        table_style(
            [
                ("BOX", (0, 0), (-1, -1), 1.2, _BOX_BORDER),
                ("BACKGROUND", (0, 0), (-1, -1), _BOX_BACKGROUND),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (1, 0), (1, 0), "CENTER"),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return box


def _numbered(items: list[str], style: str = "step") -> ListFlowable:
    return ListFlowable(
        [ListItem(_p(item, style), leftIndent=7 * mm) for item in items],
        bulletType="1",
        bulletFormat="%s.",
        bulletFontName=GOTHIC,
        bulletFontSize=10,
        leftIndent=7 * mm,
    )


def _note(paragraphs: list[str]) -> Table:
    note = Table([[[_p(text, "small") for text in paragraphs]]], colWidths=[CONTENT_WIDTH])
    note.setStyle(
        table_style(
            [
                ("BACKGROUND", (0, 0), (-1, -1), _NOTE_BACKGROUND),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return note


def _invitation_page(letter: InvitationLetter) -> list[Flowable]:
    department = letter.department_name
    rows: list[tuple[str, Flowable]] = [
        ("ログインＵＲＬ", _p(_e(letter.sign_in_url), "url")),
        ("事業者コード", _p(_e(letter.tenant_code), "code")),
        ("ログインＩＤ", _p(_e(letter.login_id), "code")),
        ("初回パスワード", _p(_e(letter.initial_password), "code")),
        ("有効期限", _p(f"{japanese_date(letter.expires_on)}まで", "value")),
    ]
    steps = [
        "ＱＲコードをスマートフォンのカメラで読み取るか、ログインＵＲＬを入力してログイン画面を開きます。",
        "ログインＩＤと初回パスワードを入力してログインします"
        "（事業者コードを求められたときは、上記の事業者コードを入力してください）。",
        "ご自身で決めた新しいパスワードを設定します。",
        "「利用目的の通知」を読み、内容を確認します。",
        "ご自身のマイナンバーを登録し、続けて扶養家族のマイナンバーを登録します。",
        "表示された番号に間違いがないことを確かめて確定します（本人番号確認）。これで登録は完了です。",
    ]
    return [
        _header([department, f"社員コード　{letter.employee_code}"], letter.employee_name, letter.company_name),
        Spacer(1, 6 * mm),
        _p(INVITATION_TITLE, "title"),
        Spacer(1, 5 * mm),
        _p(
            "当社では、法令に基づき、源泉徴収票の作成、雇用保険・健康保険・厚生年金保険の届出などの手続のため、"
            "従業員の皆さまとその扶養家族のマイナンバー（個人番号）をお預かりする必要があります。",
            "body",
        ),
        _p(
            "お手数ですが、お手元のスマートフォン（パソコンでも可）から、下記のログイン情報でご登録ください。"
            "ご登録いただいた番号は暗号化して保管し、お知らせする利用目的の範囲でのみ利用します。",
            "body",
        ),
        Spacer(1, 1.5 * mm),
        _p(
            "この書面にはあなた専用の初回パスワードが記載されています。他の人に見せたり渡したりしないでください。",
            "strong",
        ),
        Spacer(1, 4 * mm),
        _credentials_box(rows, letter.sign_in_url, "スマートフォンで読み取ると<br/>ログイン画面が開きます"),
        Spacer(1, 6 * mm),
        _p("登録の手順", "heading"),
        Spacer(1, 1.5 * mm),
        _numbered(steps),
        Spacer(1, 5 * mm),
        _note(
            [
                "※ 初回パスワードは、一度ログインに使うと無効になります。有効期限を過ぎた場合も無効になります。",
                "※ 期限が切れた場合やログインできない場合は、下記の担当者にご連絡ください。"
                "新しいログイン情報をお渡しします。",
                "※ マイナンバーをこの書面に書き込んだり、メールで送ったりしないでください。",
            ]
        ),
        Spacer(1, 4 * mm),
        _p(f"お問い合わせ先：{_e(letter.company_name)}　{_e(letter.contact)}", "label"),
    ]


def _payee_page(sheet: PayeeLinkSheet) -> list[Flowable]:
    rows: list[tuple[str, Flowable]] = [
        ("登録用ＵＲＬ", _p(_e(sheet.link_url), "url")),
        ("有効期限", _p(f"{japanese_date(sheet.expires_on)}まで", "value")),
    ]
    notes = [
        "個人の方はマイナンバー（個人番号・12桁）を、法人の方は法人番号（13桁）をご入力ください。",
        "このリンクは一度だけ使えます。番号を登録すると無効になります。",
        "アカウントの作成やパスワードの設定は必要ありません。",
        "有効期限を過ぎたリンクは使えません。その場合は下記までご連絡ください。新しいリンクをお送りします。",
        "このＵＲＬやＱＲコードを他の人に転送・共有しないでください。",
    ]
    return [
        _header([], sheet.payee_name, sheet.company_name),
        Spacer(1, 6 * mm),
        _p(PAYEE_TITLE, "title"),
        Spacer(1, 5 * mm),
        _p(
            "平素より格別のお引き立てを賜り、厚く御礼申し上げます。"
            "当社では、法令に基づき、報酬・料金等の支払調書を税務署へ提出するため、"
            "お支払先の皆さまのマイナンバー（個人番号）または法人番号をお預かりする必要があります。",
            "body",
        ),
        _p(
            "お手数ですが、下記のＵＲＬまたはＱＲコードから専用の登録画面を開き、番号をご入力ください。"
            "ご提供いただいた番号は暗号化して保管し、支払調書の作成事務以外には利用しません。",
            "body",
        ),
        Spacer(1, 4 * mm),
        _credentials_box(rows, sheet.link_url, "スマートフォンで読み取ると<br/>登録画面が開きます"),
        Spacer(1, 8 * mm),
        _p("ご注意", "heading"),
        Spacer(1, 1.5 * mm),
        _numbered(notes),
        Spacer(1, 8 * mm),
        _p(f"お問い合わせ先：{_e(sheet.company_name)}　{_e(sheet.contact)}", "label"),
    ]
