"""audit: the operation log (append-only, hash-chained per tenant) and its chain heads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:51:28.965938
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = (
    "ログイン", "ログイン失敗", "ログアウト", "登録", "代理登録", "本人番号確認", "管理者番号確認", "閲覧", "表示", "印刷",
    "修正", "削除", "提供拒否", "CSV出力", "取込", "設定変更", "アカウント変更", "修正依頼", "修正承認", "鍵更新", "履歴消去",
)  # fmt: skip

# PostgreSQL only: the log refuses UPDATE and DELETE. The one exception is erasing a whole tenant at contract end,
# done by app.audit.log.erase_tenant_log, which names the tenant in a transaction-local setting first.
APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.tenant_id::text = current_setting('mnv.audit_erase', true) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_entries is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "audit_chain_heads",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_chain_heads_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "chain", name=op.f("pk_audit_chain_heads")),
    )
    op.create_table(
        "audit_entries",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_login_id", sa.String(length=254), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=50), nullable=False),
        sa.Column("actor_organisation", sa.String(length=200), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("action", sa.Enum(*ACTIONS, name="auditaction", native_enum=False, length=24), nullable=False),
        sa.Column("function", sa.String(length=100), nullable=False),
        sa.Column("subject_person_id", sa.Uuid(), nullable=True),
        sa.Column("subject_name", sa.String(length=300), nullable=False),
        sa.Column("subject_department_code", sa.String(length=50), nullable=False),
        sa.Column("subject_department_name", sa.String(length=200), nullable=False),
        sa.Column("subject_employee_code", sa.String(length=50), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=True),
        sa.Column(
            "result", sa.Enum("成功", "失敗", "拒否", name="auditresult", native_enum=False, length=24), nullable=False
        ),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_entries_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_tenant_id_occurred_at", ["tenant_id", "occurred_at"], unique=False)
        batch_op.create_index(
            "ix_audit_entries_tenant_id_subject_person_id", ["tenant_id", "subject_person_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_tenant_id_subject_person_id")
        batch_op.drop_index("ix_audit_entries_tenant_id_occurred_at")
    op.drop_table("audit_entries")
    op.drop_table("audit_chain_heads")
