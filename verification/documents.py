"""Which documents prove what (番号法16条, 同法施行令12条, 同法施行規則1〜3条): the one place these rules live.

本人確認 = 番号確認 (the number is right) + 身元確認 (the person is who they say):

- 個人番号カード alone covers both (its back shows the number, its front the photo): two images, 表 and 裏.
- Otherwise a 番号確認書類 — 通知カード (only if issued before 2020-05-25 and its name/address are unchanged; the
  employee confirms it) or 住民票の写し / 住民票記載事項証明書 with the number — plus a 身元確認書類: one photo ID
  (the list of 施行規則1条1項1号: 運転免許証, 運転経歴証明書 issued from 2012-04-01, 旅券, 身体障害者手帳,
  精神障害者保健福祉手帳, 療育手帳, 在留カード, 特別永住者証明書), or two non-photo documents.
- 個人番号通知書 (sent since 2020-05-25) is NOT a 番号確認書類: the upload page says so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """What a document kind may prove."""

    BOTH = "both"  # 個人番号カード
    NUMBER = "number"  # 番号確認
    PHOTO_ID = "photo_id"  # 身元確認 (1 document)
    NON_PHOTO_ID = "non_photo_id"  # 身元確認 (2 documents)


@dataclass(frozen=True, slots=True)
class Side:
    """One image a document needs: its label (表, 裏, 1枚目…) and whether it is required."""

    code: str
    label: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class DocumentKind:
    code: str
    label: str
    role: Role
    sides: tuple[Side, ...]
    hint: str = ""


_FRONT = Side("front", "表面")
_BACK = Side("back", "裏面")
_BACK_OPTIONAL = Side("back", "裏面（記載がある場合）", required=False)
_PAGE1 = Side("page1", "1枚目")
_PAGE2 = Side("page2", "2枚目（ある場合）", required=False)

KINDS: dict[str, DocumentKind] = {
    kind.code: kind
    for kind in (
        DocumentKind("mynumber_card", "個人番号カード（マイナンバーカード）", Role.BOTH, (_FRONT, _BACK)),
        DocumentKind(
            "notification_card",
            "通知カード",
            Role.NUMBER,
            (_FRONT, _BACK_OPTIONAL),
            "2020年5月25日より前に交付され、氏名・住所などの記載事項に変更がない場合に限ります。",
        ),
        DocumentKind(
            "resident_record",
            "住民票の写し・住民票記載事項証明書（個人番号の記載があるもの）",
            Role.NUMBER,
            (_PAGE1, _PAGE2),
        ),
        DocumentKind("drivers_license", "運転免許証", Role.PHOTO_ID, (_FRONT, _BACK_OPTIONAL)),
        DocumentKind(
            "driving_history",
            "運転経歴証明書（2012年4月1日以降に交付されたもの）",
            Role.PHOTO_ID,
            (_FRONT, _BACK_OPTIONAL),
        ),
        DocumentKind("passport", "パスポート", Role.PHOTO_ID, (Side("photo", "写真のページ"),)),
        DocumentKind("residence_card", "在留カード", Role.PHOTO_ID, (_FRONT, _BACK_OPTIONAL)),
        DocumentKind("special_permanent", "特別永住者証明書", Role.PHOTO_ID, (_FRONT, _BACK_OPTIONAL)),
        DocumentKind("disability_certificate", "身体障害者手帳", Role.PHOTO_ID, (_FRONT, _BACK_OPTIONAL)),
        DocumentKind("mental_health_certificate", "精神障害者保健福祉手帳", Role.PHOTO_ID, (_FRONT, _BACK_OPTIONAL)),
        DocumentKind("rehabilitation_certificate", "療育手帳", Role.PHOTO_ID, (_FRONT, _BACK_OPTIONAL)),
        DocumentKind(
            "health_insurance", "健康保険の資格確認書・被保険者証", Role.NON_PHOTO_ID, (_FRONT, _BACK_OPTIONAL)
        ),
        DocumentKind("pension_book", "年金手帳・基礎年金番号通知書", Role.NON_PHOTO_ID, (_FRONT,)),
        DocumentKind("pension_certificate", "年金証書", Role.NON_PHOTO_ID, (_FRONT,)),
        DocumentKind("child_allowance", "児童扶養手当証書", Role.NON_PHOTO_ID, (_FRONT,)),
    )
}
NUMBER_CHOICES = [kind for kind in KINDS.values() if kind.role in (Role.BOTH, Role.NUMBER)]
PHOTO_ID_CHOICES = [kind for kind in KINDS.values() if kind.role is Role.PHOTO_ID]
NON_PHOTO_ID_CHOICES = [kind for kind in KINDS.values() if kind.role is Role.NON_PHOTO_ID]
NOT_ACCEPTED = (
    "「個人番号通知書」（2020年5月25日以降に送られた紙の通知）は番号確認書類として使えません。"
    "個人番号カード、または個人番号の記載がある住民票の写しを撮影してください。"
)
MAX_IMAGES = 6  # the most a valid choice can ask for: 住民票 2 pages + two non-photo documents of 2 sides each


class DocumentChoiceInvalid(Exception):
    """A choice of documents that does not make a 本人確認; ``message`` says what to choose (Japanese)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Slot:
    """One file input of the upload form: ``field`` (its form name), the document and the side."""

    field: str
    kind: DocumentKind
    side: Side

    @property
    def label(self) -> str:
        return f"{self.kind.label}（{self.side.label}）"


@dataclass(frozen=True, slots=True)
class DocumentPlan:
    """A valid choice: the number document and the identity documents (empty for 個人番号カード)."""

    number_document: DocumentKind
    identity_documents: tuple[DocumentKind, ...]

    @property
    def kinds(self) -> list[DocumentKind]:
        return [self.number_document, *self.identity_documents]

    @property
    def needs_notification_card_confirmation(self) -> bool:
        return self.number_document.code == "notification_card"

    @property
    def slots(self) -> list[Slot]:
        return [
            Slot(f"image_{index}_{side.code}", kind, side)
            for index, kind in enumerate(self.kinds)
            for side in kind.sides
        ]


def plan_documents(number_document: str, identity_documents: list[str]) -> DocumentPlan:
    """Check a choice of documents against 番号法16条 and return what to photograph.

    ``number_document``: a code of ``NUMBER_CHOICES``; ``identity_documents``: none (個人番号カード), one photo ID, or
    two different non-photo documents (empty strings are ignored). Errors: ``DocumentChoiceInvalid``.
    """
    number = KINDS.get(number_document)
    if number is None or number.role not in (Role.BOTH, Role.NUMBER):
        raise DocumentChoiceInvalid("番号確認の書類を選んでください。" + NOT_ACCEPTED)
    chosen = [code for code in identity_documents if code]
    if number.role is Role.BOTH:
        if chosen:
            raise DocumentChoiceInvalid("個人番号カードは番号確認と身元確認の両方を兼ねます。ほかの書類は不要です。")
        return DocumentPlan(number, ())
    kinds = []
    for code in chosen:
        kind = KINDS.get(code)
        if kind is None or kind.role not in (Role.PHOTO_ID, Role.NON_PHOTO_ID):
            raise DocumentChoiceInvalid("身元確認の書類を一覧から選んでください。")
        kinds.append(kind)
    photo = [kind for kind in kinds if kind.role is Role.PHOTO_ID]
    other = [kind for kind in kinds if kind.role is Role.NON_PHOTO_ID]
    if len(photo) == 1 and not other:
        return DocumentPlan(number, tuple(photo))
    if not photo and len(other) == 2 and other[0].code != other[1].code:
        return DocumentPlan(number, tuple(other))
    raise DocumentChoiceInvalid(
        "身元確認の書類は、顔写真付きの書類を1種類、または顔写真のない書類を異なる2種類選んでください。"
    )


def document_labels(codes: list[str]) -> list[str]:
    """The Japanese names of document kinds (an unknown code is shown as it is)."""
    return [KINDS[code].label if code in KINDS else code for code in codes]


def checks_of(codes: list[str]) -> tuple[bool, bool]:
    """(番号確認, 身元確認) that a set of document kinds makes, by the rules of :func:`plan_documents`."""
    kinds = [KINDS[code] for code in codes if code in KINDS]
    number = any(kind.role in (Role.BOTH, Role.NUMBER) for kind in kinds)
    photos = sum(kind.role is Role.PHOTO_ID for kind in kinds)
    others = len({kind.code for kind in kinds if kind.role is Role.NON_PHOTO_ID})
    identity = any(kind.role is Role.BOTH for kind in kinds) or photos >= 1 or others >= 2
    return number, identity
