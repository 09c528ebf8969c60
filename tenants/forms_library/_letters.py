"""Letters and pledges: 従業員へのお知らせ, 秘密保持に関する誓約書, 退職時誓約書 and the 委任状 for a spouse's
国民年金第3号被保険者関係届. Texts of the project (です・ます for the letter, 誓約書 style for the pledges).

Sources: 番号法 第15条 (提供の求めの制限), 第16条 (本人確認: 代理人は代理権・代理人の身元・本人の番号), 第19条,
第20条; 個人情報保護法 第21条 (利用目的の通知); ガイドライン（事業者編）の人的安全管理措置 (監督・教育, 秘密保持).
"""

from __future__ import annotations

from tenants.forms_library._context import FormContext
from tenants.forms_library._writer import BLANK, SHORT_BLANK, FormWriter

NOTICE_TITLE = "マイナンバー（個人番号）の提供のお願い"
PLEDGE_TITLE = "秘密保持に関する誓約書"
RETIREMENT_TITLE = "退職時誓約書"
PROXY_TITLE = "委任状"


def _addressed_to_company(writer: FormWriter, context: FormContext) -> None:
    writer.paragraph(context.name)
    writer.paragraph(f"代表者　{context.representative}　殿")
    writer.paragraph()


def build_notice(context: FormContext) -> bytes:
    """The letter asking employees for their numbers, with the purposes the tenant notified (and its own words)."""
    writer = FormWriter(NOTICE_TITLE)
    writer.paragraph(context.dated, align="right")
    writer.paragraph("従業員各位")
    writer.lines([("", context.name), ("代表者", context.representative)])
    writer.title(NOTICE_TITLE)
    writer.paragraph(
        "社会保障・税番号制度（マイナンバー制度）により、当社は、税務署、市区町村、公共職業安定所、年金事務所等に"
        "提出する書類に、従業員の皆さん及びその扶養家族の方のマイナンバー（個人番号）を記載することが法令で"
        "義務付けられています。つきましては、次のとおりマイナンバーの提供をお願いします。",
        indent=True,
    )
    writer.heading("1　利用目的")
    # The same notice employees read before registering online (tenants.purposes): one text for paper and screen.
    for paragraph in context.purpose_notice.split("\n\n")[1:]:  # its title is the heading above
        for line in paragraph.split("\n"):
            if line[:1].isdigit():  # "1. 源泉徴収票作成事務"
                writer.lines([("", line)], indent_mm=7)
            else:
                writer.paragraph(line, indent=True)
    writer.heading("2　提供していただくもの")
    writer.paragraph(
        "法令により、マイナンバーの提供を受ける際には本人確認（番号確認及び身元確認）を行います。次のいずれかを"
        "ご用意ください。",
        indent=True,
    )
    writer.items(
        (
            "マイナンバーカード（個人番号カード）（表面・裏面）",
            "マイナンバーが記載された住民票の写し又は住民票記載事項証明書　及び　運転免許証、パスポート等の写真付き"
            "身分証明書",
        )
    )
    writer.paragraph(
        "「個人番号通知書」は本人確認の書類として使用できません。扶養控除等（異動）申告書に記載する扶養家族の方の"
        "マイナンバーについては、従業員の皆さんが扶養家族の方の本人確認を行ってください。国民年金第3号被保険者"
        "（配偶者の方）のマイナンバーは、配偶者の方からの委任状を添えて提出してください。",
        indent=True,
    )
    writer.heading("3　提出方法と期限")
    writer.paragraph(
        f"提出方法：{BLANK}（ウェブでの登録、又は事務取扱担当者への書類の提出）　提出期限：　　　　年　　月　　日",
        indent=True,
    )
    writer.heading("4　マイナンバーの管理")
    writer.paragraph(
        "提供していただいたマイナンバーは、限られた事務取扱担当者だけが取り扱い、上記の利用目的以外には利用しません。"
        "法令で認められる場合を除き、第三者に提供することはありません。法令で定められた保存期間を経過した後は、"
        "速やかに削除又は廃棄します。",
        indent=True,
    )
    writer.paragraph(
        "マイナンバーの提供は法令に基づく義務です。ご提供いただけない場合は、その経緯を記録させていただきますので、"
        "ご理解とご協力をお願いします。",
        indent=True,
    )
    writer.heading("5　お問い合わせ")
    writer.lines(
        [("担当", f"事務取扱責任者　{BLANK}"), ("電話", context.phone)],
        indent_mm=10,
    )
    writer.paragraph("以上", align="right")
    return writer.to_bytes()


def build_pledge(context: FormContext) -> bytes:
    """The pledge a handler signs when named 事務取扱担当者."""
    writer = FormWriter(PLEDGE_TITLE)
    writer.title(PLEDGE_TITLE)
    _addressed_to_company(writer, context)
    writer.paragraph(
        "私は、貴社の個人番号及び特定個人情報（以下「特定個人情報等」といいます。）の事務取扱担当者として業務に"
        "従事するにあたり、次の事項を遵守することを誓約します。",
        indent=True,
    )
    writer.article(
        "規程の遵守",
        "番号法、個人情報保護法その他の関係法令、ガイドライン及び貴社の特定個人情報取扱規程を遵守し、事務取扱責任者"
        "の指示に従って特定個人情報等を取り扱います。",
    )
    writer.article(
        "利用等の制限",
        "特定個人情報等は、本人に通知された利用目的の範囲内でのみ利用し、番号法で認められる場合を除き、収集し、"
        "保管し、又は第三者に提供しません。",
    )
    writer.article(
        "秘密の保持",
        "業務上知り得た特定個人情報等を、在職中はもとより退職後においても、他人に漏らし、又は不当な目的に利用しません。",
    )
    writer.article(
        "持出し及び複製の禁止",
        "事務取扱責任者の許可なく、特定個人情報等を複製し、取扱区域の外へ持ち出し、又は私物の機器や電子媒体に保存しません。",
    )
    writer.article(
        "事故等の報告",
        "特定個人情報等の漏えい、滅失若しくは毀損又はそのおそれを知ったときは、直ちに事務取扱責任者に報告し、"
        "その指示に従います。",
    )
    writer.article(
        "教育への参加",
        "貴社が実施する特定個人情報等の取扱いに関する教育・研修を受講します。",
    )
    writer.article(
        "責任",
        "この誓約に違反したときは、就業規則に基づく処分を受けること、貴社に生じた損害を賠償する責任を負うこと、"
        "及び番号法に定める罰則の対象となり得ることを理解しています。",
    )
    writer.signature()
    return writer.to_bytes()


def build_retirement_pledge(context: FormContext) -> bytes:
    """The pledge a handler (or any employee who handled numbers) signs on leaving."""
    writer = FormWriter(RETIREMENT_TITLE)
    writer.title(RETIREMENT_TITLE)
    _addressed_to_company(writer, context)
    writer.paragraph(
        f"私は、　　　　年　　月　　日付で貴社を退職するにあたり、在職中に取り扱った個人番号及び特定個人情報"
        f"（以下「特定個人情報等」といいます。）について、次の事項を誓約します。（所属・職名：{BLANK}）",
        indent=True,
    )
    writer.article(
        "返還及び消去",
        "在職中に業務上取得し、又は作成した特定個人情報等が記録された書類、電子媒体その他の資料及びその複製物は、"
        "退職日までにすべて貴社に返還し、又は貴社の指示に従って消去しました。私の手元には一切残っていません。",
    )
    writer.article(
        "退職後の秘密保持",
        "在職中に知り得た特定個人情報等を、退職後も他人に漏らし、又は自己若しくは第三者のために利用しません。",
    )
    writer.article(
        "アカウント等の返却",
        "特定個人情報等を取り扱う情報システムのアカウント、パスワード、認証用の機器及び鍵等は、すべて返却し、"
        "退職後に利用しません。",
    )
    writer.article(
        "責任",
        "この誓約に違反したときは、貴社に生じた損害を賠償する責任を負うこと、及び番号法に定める罰則の対象となり得る"
        "ことを理解しています。",
    )
    writer.signature()
    return writer.to_bytes()


def build_proxy(context: FormContext) -> bytes:
    """The 委任状 by which a spouse (第3号被保険者) lets the employee provide their number to the company."""
    writer = FormWriter(PROXY_TITLE)
    writer.title(PROXY_TITLE)
    _addressed_to_company(writer, context)
    writer.paragraph(
        "私は、次の者を代理人と定め、下記の事項を委任します。",
        indent=True,
    )
    writer.heading("代理人（第2号被保険者である従業員）")
    writer.lines(
        [("住　所", BLANK * 2), ("氏　名", BLANK * 2), ("委任者との続柄", SHORT_BLANK)],
        indent_mm=10,
    )
    writer.paragraph("記", align="center")
    writer.items(
        (
            f"国民年金第3号被保険者関係届の提出のため、私の個人番号を{context.name}に提供すること",
            "前号の提供に際し、私の番号確認のための書類（マイナンバーカードの写し等）を提示し、又は提出すること",
        )
    )
    writer.paragraph("以上", align="right")
    writer.heading("委任者（国民年金第3号被保険者）")
    writer.signature(with_birth_date=True)
    writer.lines([("電話番号", BLANK)], indent_mm=45)
    writer.paragraph()
    writer.paragraph(
        "（注）代理人の方は、この委任状とともに、代理人ご本人の身元確認書類（運転免許証等）を提示してください"
        "（番号法第16条：代理権の確認、代理人の身元確認及び本人の番号確認）。",
    )
    return writer.to_bytes()
