"""people: name search by index (pg_trgm / SQLite FTS5 trigram), kana_key, payee and retirement indexes

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 23:00:00

Name search (``tenants.services._search``) reads:

* ``people.kana_key`` — the フリガナ's search key (the part of ``search_key`` after the separator), so a 1–2
  character query can match the start of the フリガナ with an index range;
* PostgreSQL: a ``pg_trgm`` GIN index on ``search_key`` (3+ characters, ``LIKE '%…%'``) and two btree indexes in
  code-point order (``COLLATE "C"``) on ``search_key`` and ``kana_key`` for prefix ranges whatever the database's
  collation;
* SQLite: ``people_search`` (tenant, person, search_key; an INTEGER key that VACUUM keeps) kept by triggers on
  ``people``, and ``people_search_fts``, an FTS5 trigram index over it (external content, kept by triggers on
  ``people_search``); an index on (tenant_id, kana_key) for prefix ranges (SQLite compares text in code-point order).

SQLite drops a table's triggers with the table: a later migration that rebuilds ``people`` (``batch_alter_table``
with a copy) must create the ``people`` triggers again (:func:`create_people_triggers`);
``tests/tenants/test_name_search.py`` checks they are there at the head revision.

The dialect-only objects are not in the models (``tenants.models.SEARCH_ONLY_OBJECTS``: autogenerate skips them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PEOPLE_TRIGGERS = {
    "people_search_ai": """
        CREATE TRIGGER people_search_ai AFTER INSERT ON people BEGIN
            INSERT INTO people_search (tenant_id, person_id, search_key)
            VALUES (new.tenant_id, new.id, new.search_key);
        END""",
    "people_search_au": """
        CREATE TRIGGER people_search_au AFTER UPDATE OF search_key ON people
        WHEN old.search_key IS NOT new.search_key BEGIN
            UPDATE people_search SET search_key = new.search_key
            WHERE person_id = new.id AND tenant_id = new.tenant_id;
        END""",
    "people_search_ad": """
        CREATE TRIGGER people_search_ad AFTER DELETE ON people BEGIN
            DELETE FROM people_search WHERE person_id = old.id AND tenant_id = old.tenant_id;
        END""",
}
FTS_TRIGGERS = {
    "people_search_fts_ai": """
        CREATE TRIGGER people_search_fts_ai AFTER INSERT ON people_search BEGIN
            INSERT INTO people_search_fts (rowid, search_key) VALUES (new.seq, new.search_key);
        END""",
    "people_search_fts_ad": """
        CREATE TRIGGER people_search_fts_ad AFTER DELETE ON people_search BEGIN
            INSERT INTO people_search_fts (people_search_fts, rowid, search_key)
            VALUES ('delete', old.seq, old.search_key);
        END""",
    "people_search_fts_au": """
        CREATE TRIGGER people_search_fts_au AFTER UPDATE ON people_search BEGIN
            INSERT INTO people_search_fts (people_search_fts, rowid, search_key)
            VALUES ('delete', old.seq, old.search_key);
            INSERT INTO people_search_fts (rowid, search_key) VALUES (new.seq, new.search_key);
        END""",
}


def create_people_triggers() -> None:
    """SQLite: the triggers that copy ``people.search_key`` into ``people_search`` (again after a table rebuild)."""
    for statement in PEOPLE_TRIGGERS.values():
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("kana_key", sa.String(length=250), nullable=False, server_default=""))
    # search_key is name key + "|" + kana key, and no key contains "|": the kana key is what follows it.
    if dialect == "postgresql":
        op.execute("UPDATE people SET kana_key = split_part(search_key, '|', 2)")
    else:
        op.execute("UPDATE people SET kana_key = substr(search_key, instr(search_key, '|') + 1)")
    op.create_index("ix_people_list_payees", "people", ["tenant_id", "kind", "kana_key", "search_key", "id"])
    op.create_index("ix_people_tenant_id_retirement_date", "people", ["tenant_id", "retirement_date"])
    if dialect == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    # pg_trgm is a trusted extension: the database owner may create it. It is left in place on downgrade (other
    # objects may come to use it).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_people_search_trgm ON people USING gin (search_key gin_trgm_ops)")
    op.execute('CREATE INDEX ix_people_search_name ON people (tenant_id, search_key COLLATE "C")')
    op.execute('CREATE INDEX ix_people_search_kana ON people (tenant_id, kana_key COLLATE "C")')


def _upgrade_sqlite() -> None:
    op.execute("CREATE INDEX ix_people_search_kana ON people (tenant_id, kana_key)")
    op.execute(
        """
        CREATE TABLE people_search (
            seq INTEGER PRIMARY KEY,
            tenant_id CHAR(32) NOT NULL,
            person_id CHAR(32) NOT NULL,
            search_key VARCHAR(250) NOT NULL
        )"""
    )
    # By person first (the triggers' lookups), and deliberately no index leading with tenant_id: a search then
    # always starts from the FTS index's answer, never from a scan of the tenant's rows.
    op.execute("CREATE UNIQUE INDEX ix_people_search_person ON people_search (person_id, tenant_id)")
    op.execute(
        "CREATE VIRTUAL TABLE people_search_fts USING fts5("
        "search_key, content='people_search', content_rowid='seq', tokenize='trigram')"
    )
    for statement in FTS_TRIGGERS.values():
        op.execute(statement)
    create_people_triggers()
    op.execute(
        "INSERT INTO people_search (tenant_id, person_id, search_key) SELECT tenant_id, id, search_key FROM people"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for name in ("ix_people_search_kana", "ix_people_search_name", "ix_people_search_trgm"):
            op.execute(f"DROP INDEX {name}")
    else:
        for name in (*PEOPLE_TRIGGERS, *FTS_TRIGGERS):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE people_search_fts")
        op.execute("DROP TABLE people_search")
        op.execute("DROP INDEX ix_people_search_kana")
    op.drop_index("ix_people_tenant_id_retirement_date", table_name="people")
    op.drop_index("ix_people_list_payees", table_name="people")
    with op.batch_alter_table("people") as batch:
        batch.drop_column("kana_key")
