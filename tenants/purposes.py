"""利用目的: the purposes a tenant collects numbers for, and the default notice employees read first."""

from __future__ import annotations

from app.tenancy import Tenant

PURPOSES: tuple[str, ...] = (
    "源泉徴収票作成事務",
    "給与支払報告書作成事務",
    "扶養控除等（異動）申告書作成事務",
    "雇用保険届出事務",
    "健康保険・厚生年金保険届出事務",
    "国民年金第3号被保険者届出事務",
    "報酬・料金等の支払調書作成事務",
    "不動産使用料等の支払調書作成事務",
    "財形住宅・年金貯蓄に関する事務",
)

DEFAULT_NOTICE = """個人番号（マイナンバー）の利用目的について

当社は、行政手続における特定の個人を識別するための番号の利用等に関する法律（番号法）に基づき、従業員およびその扶養家族の個人番号を、次の事務のために取得し、利用します。

1. 源泉徴収票作成事務
2. 給与支払報告書作成事務
3. 扶養控除等（異動）申告書作成事務
4. 雇用保険届出事務
5. 健康保険・厚生年金保険届出事務
6. 国民年金第3号被保険者届出事務

上記以外の目的で個人番号を利用することはありません。個人番号は暗号化して保管し、法令で定められた保存期間が過ぎた後は速やかに削除します。
"""


def notice_text(tenant: Tenant) -> str:
    """The tenant's own notice, or the default one."""
    return tenant.purpose_notice or DEFAULT_NOTICE
