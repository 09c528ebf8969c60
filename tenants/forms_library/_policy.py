"""特定個人情報等の適正な取扱いに関する基本方針 (ガイドライン（事業者編）別添1「A 基本方針の策定」).

The guideline names what such a policy usually states: the business's name, compliance with the laws and the
guideline, the safety measures, and where to ask or complain. The text is the project's own.
"""

from __future__ import annotations

from tenants.forms_library._context import FormContext
from tenants.forms_library._writer import BLANK, FormWriter

TITLE = "特定個人情報等の適正な取扱いに関する基本方針"


def build(context: FormContext) -> bytes:
    """The policy with the tenant's name, address and representative; 制定日 is the day it was made."""
    writer = FormWriter(TITLE)
    writer.title(TITLE)
    writer.paragraph(
        f"{context.name}（以下「当社」といいます。）は、個人番号及び特定個人情報（以下「特定個人情報等」といいます。）"
        "の適正な取扱いの確保について組織として取り組むため、次のとおり基本方針を定めます。",
        indent=True,
    )
    sections: list[tuple[str, list[str]]] = [
        ("1　事業者の名称", [f"{context.name}"]),
        (
            "2　関係法令・ガイドライン等の遵守",
            [
                "当社は、「行政手続における特定の個人を識別するための番号の利用等に関する法律」（以下「番号法」といいます。）、"
                "「個人情報の保護に関する法律」及び個人情報保護委員会が定める「特定個人情報の適正な取扱いに関する"
                "ガイドライン（事業者編）」その他の関係法令等を遵守し、特定個人情報等を適正に取り扱います。",
            ],
        ),
        (
            "3　利用目的",
            [
                "当社は、特定個人情報等を、従業員等（扶養家族を含みます。）及び取引先の方にあらかじめ通知した利用目的"
                "（社会保障、税及び災害対策に関する法令に定める事務）の範囲内でのみ利用します。",
            ],
        ),
        (
            "4　取得、提供、保管及び廃棄",
            [
                "当社は、番号法で認められる場合を除き、個人番号の提供を求めず、特定個人情報等を収集し、"
                "保管し、又は第三者に提供しません。個人番号の提供を受けるときは、番号法に定める本人確認を行います。",
                "個人番号関係事務を処理する必要がなくなり、法令で定める保存期間を経過した特定個人情報等は、"
                "できるだけ速やかに削除又は廃棄し、その記録を保存します。",
            ],
        ),
        (
            "5　安全管理措置に関する事項",
            [
                "当社は、特定個人情報等の漏えい、滅失又は毀損の防止その他の適切な管理のため、特定個人情報取扱規程を定め、"
                "組織的、人的、物理的及び技術的な安全管理措置を講じます。事務取扱担当者を限定し、必要かつ適切な監督"
                "及び教育を行います。",
                "特定個人情報等の取扱いを委託する場合は、当社が果たすべき安全管理措置と同等の措置が講じられる委託先を"
                "選定し、委託先に対して必要かつ適切な監督を行います。",
                "安全管理措置については、取扱状況を定期的に点検し、継続的に見直し、改善します。",
            ],
        ),
        (
            "6　質問及び苦情処理の窓口",
            [
                "特定個人情報等の取扱いに関するご質問及び苦情は、次の窓口で受け付けます。",
            ],
        ),
    ]
    for heading, paragraphs in sections:
        writer.heading(heading)
        for text in paragraphs:
            writer.paragraph(text, indent=True)
    writer.lines(
        [
            ("窓口", f"{context.name}　{BLANK}"),
            ("担当", f"事務取扱責任者　{BLANK}"),
            ("電話", context.phone),
        ],
        indent_mm=10,
    )
    writer.paragraph()
    writer.paragraph(f"制定日　{context.dated}", align="right")
    writer.lines([("", context.name), ("所在地", context.address), ("代表者", context.representative)])
    return writer.to_bytes()
