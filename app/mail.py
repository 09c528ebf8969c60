"""Outgoing mail over SMTP (optional): plain-text UTF-8 messages, sent in a worker thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from app.config import Settings
from app.logs import get_logger
from app.pdf import japanese_date

SMTP_TIMEOUT_SECONDS = 10

logger = get_logger("mail")


class MailError(Exception):
    """A message could not be sent; the message is a short Japanese sentence for the user."""


class InvitationDetails(Protocol):
    """What an invitation mail needs (satisfied by ``selfservice.letters.InvitationLetter``)."""

    @property
    def company_name(self) -> str: ...
    @property
    def employee_name(self) -> str: ...
    @property
    def tenant_code(self) -> str: ...
    @property
    def login_id(self) -> str: ...
    @property
    def sign_in_url(self) -> str: ...
    @property
    def expires_on(self) -> dt.date: ...
    @property
    def contact(self) -> str: ...


class PayeeLinkDetails(Protocol):
    """What a payee link mail needs (satisfied by ``selfservice.letters.PayeeLinkSheet``)."""

    @property
    def company_name(self) -> str: ...
    @property
    def payee_name(self) -> str: ...
    @property
    def link_url(self) -> str: ...
    @property
    def expires_on(self) -> dt.date: ...
    @property
    def contact(self) -> str: ...


class Mailer:
    """Sends mail through the SMTP server named by the ``MNV_SMTP_*`` settings; disabled when no host is set."""

    def __init__(self, settings: Settings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._user = settings.smtp_user
        self._password = settings.smtp_password
        self._sender = settings.smtp_from
        self._starttls = settings.smtp_starttls

    @property
    def enabled(self) -> bool:
        """True when an SMTP host is configured."""
        return bool(self._host)

    async def send(self, to: str, subject: str, body: str) -> None:
        """Send one plain-text UTF-8 message; raise MailError (Japanese) when it cannot be sent."""
        if not self.enabled:
            raise MailError("メール送信が設定されていません。書面またはURLでお知らせください。")
        message = self._compose(to, subject, body)
        try:
            await asyncio.to_thread(self._deliver, message)
        except (smtplib.SMTPException, OSError) as exc:
            logger.warning(
                "mail not sent",
                extra={"to": to, "subject": subject, "smtp_host": self._host, "error": f"{type(exc).__name__}: {exc}"},
            )
            raise MailError("メールを送信できませんでした。書面またはURLでお知らせください。") from exc
        logger.info("mail sent", extra={"to": to, "subject": subject, "message_id": message["Message-ID"]})

    def _compose(self, to: str, subject: str, body: str) -> EmailMessage:
        if not _plausible_address(to):
            raise MailError("メールアドレスの形式が正しくありません。")
        message = EmailMessage()
        try:
            message["From"] = self._sender
            message["To"] = to
            message["Subject"] = subject
        except ValueError as exc:  # a line break in a header: refuse rather than inject
            raise MailError("メールの宛先または件名に使えない文字が含まれています。") from exc
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self._sender.rpartition("@")[2] or None)
        message.set_content(body, charset="utf-8")
        return message

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._user:
                smtp.login(self._user, self._password)
            smtp.send_message(message)


def _plausible_address(address: str) -> bool:
    local, at, domain = address.partition("@")
    return bool(at and local and "." in domain and not any(c.isspace() or c in '<>,;"' for c in address))


def invitation_mail(letter: InvitationDetails) -> tuple[str, str]:
    """Subject and body of an employee's invitation mail; the initial password is deliberately left out."""
    subject = f"【{letter.company_name}】マイナンバー登録のお願い"
    body = f"""{letter.employee_name} 様

{letter.company_name} のマイナンバー管理担当者です。

源泉徴収票の作成、雇用保険・健康保険・厚生年金保険の届出などの手続のため、
あなたとご家族（扶養家族）のマイナンバー（個人番号）のご登録をお願いします。
スマートフォンまたはパソコンから、下記のURLを開いてログインしてください。

  ログインURL：{letter.sign_in_url}
  事業者コード：{letter.tenant_code}
  ログインID：{letter.login_id}
  有効期限：{japanese_date(letter.expires_on)}まで

初回パスワードは、安全のためこのメールには記載していません。
会社からお渡しする書面「マイナンバー登録のお願い」に記載されています。
書面がお手元にない場合は、下記の担当者にお問い合わせください。

ログイン後、新しいパスワードを設定し、「利用目的の通知」をお読みのうえ、
ご自身と扶養家族のマイナンバーを登録してください。

※ このメールにマイナンバーを書いて返信しないでください。
※ お心当たりのない場合は、このメールを破棄してください。

お問い合わせ先：{letter.company_name}　{letter.contact}
"""
    return subject, body


def payee_link_mail(sheet: PayeeLinkDetails) -> tuple[str, str]:
    """Subject and body of a payee's one-time link mail."""
    subject = f"【{sheet.company_name}】マイナンバー（個人番号・法人番号）ご提供のお願い"
    body = f"""{sheet.payee_name} 様

平素より格別のお引き立てを賜り、厚く御礼申し上げます。
{sheet.company_name} のマイナンバー管理担当者です。

報酬・料金等の支払調書を税務署へ提出するため、マイナンバー（個人番号）
または法人番号のご提供をお願いします。下記のURLから専用の登録画面を開き、
番号をご入力ください。アカウントの作成やパスワードは必要ありません。

  登録用URL：{sheet.link_url}
  有効期限：{japanese_date(sheet.expires_on)}まで

※ このURLは一度だけ使えます。他の人に転送しないでください。
※ このメールにマイナンバーを書いて返信しないでください。
※ お心当たりのない場合は、このメールを破棄してください。

お問い合わせ先：{sheet.company_name}　{sheet.contact}
"""
    return subject, body
