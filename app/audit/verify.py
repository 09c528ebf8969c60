"""Checking chains: recompute every MAC with the keys from the key store and compare with the checkpoints.

A chain is broken when an entry's MAC, sequence or link is wrong, when its end disagrees with the chain head,
when it ends before a checkpoint (a truncated tail) or disagrees with one (a rewrite), when a legacy unkeyed
entry follows a keyed one or is not anchored by a checkpoint (unkeyed entries are recomputable by anyone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from app.audit.chain import HASHED_FIELDS, id_text, payload_hash, timestamp_text
from app.audit.keys import AuditKeyError, AuditKeySource, Checkpoint, key_source
from app.audit.models import GENESIS_HASH
from app.audit.tables import ENTRIES, HEADS, head_filter

VERIFY_PAGE = 5000
PROGRESS_EVERY = 50_000


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of checking one tenant's chain; ``first_bad_seq`` names where it breaks.

    ``legacy`` counts unkeyed (v1) entries accepted because a checkpoint anchors them; ``checkpoint_seq`` is the
    newest checkpoint the chain was compared with.
    """

    tenant_id: uuid.UUID
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    legacy: int = 0
    checkpoint_seq: int | None = None


Progress = Callable[[uuid.UUID, int], None]


class ChainScan:
    """Walks a chain in sequence order from ``after_seq`` (whose MAC is ``prev_hash``), remembering the first break.

    Pages of ``VERIFY_PAGE`` rows by keyset (seq), read without type processing (ids, time, enums and detail as
    the database returns them) and turned straight into the hashed form: constant memory, and per entry only
    what cannot be shared (one JSON parse of the detail, one canonical encoding, one HMAC). ``progress`` is told
    the running count every ``PROGRESS_EVERY`` entries.
    """

    def __init__(
        self,
        tenant_id: uuid.UUID,
        source: AuditKeySource,
        *,
        after_seq: int = 0,
        prev_hash: str = GENESIS_HASH,
        legacy_until: int = 0,
        watch: Iterable[int] = (),
        progress: Progress | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.source = source
        self.last_seq = after_seq
        self.last_hash = prev_hash
        self.legacy_until = legacy_until
        self.watch = set(watch)
        self.progress = progress
        self.macs: dict[int, str] = {}
        self.count = 0
        self.legacy = 0
        self.first_legacy_seq: int | None = None
        self.keyed_seen = False
        self.bad: tuple[int, str] | None = None
        self._keys: dict[int, bytes | None] = {}
        self._tenant_text = str(tenant_id)

    async def read(self, session: AsyncSession) -> None:
        """Check every row after the last one seen.

        The next page is fetched while this one is checked (the driver's thread or the server works meanwhile).
        """
        rows = await self._fetch(session, self.last_seq)
        while rows:
            await self._load_keys({row[3] for row in rows if row[3] is not None})
            following = None
            if len(rows) == VERIFY_PAGE:  # nothing else uses the session until it is awaited below
                following = asyncio.ensure_future(self._fetch(session, rows[-1][0]))
            try:
                self._check_page(rows)
            except BaseException:
                if following is not None:
                    following.cancel()
                    with contextlib.suppress(BaseException):
                        await following
                raise
            rows = [] if following is None else await following

    async def _fetch(self, session: AsyncSession, after_seq: int) -> list[Any]:
        return list((await session.execute(_page(self.tenant_id, after_seq))).all())

    def _check_page(self, rows: list[Any]) -> None:
        reported = self.count // PROGRESS_EVERY
        for row in rows:
            self._check(row)
        if self.progress is not None and self.count // PROGRESS_EVERY > reported:
            self.progress(self.tenant_id, self.count)

    def _check(self, row: Any) -> None:
        seq, mac = row[0], row[2]
        if self.bad is None:
            self.bad = self._problem(row)
        if seq in self.watch:
            self.macs[seq] = mac
        self.last_seq, self.last_hash = seq, mac
        self.count += 1

    async def _load_keys(self, versions: set[int]) -> None:
        for version in versions - self._keys.keys():
            try:
                self._keys[version] = await self.source.chain_key(int(version), self.tenant_id)
            except AuditKeyError:
                self._keys[version] = None

    def _problem(self, row: Any) -> tuple[int, str] | None:
        seq, prev_hash, mac, key_version, detail_text, occurred, actor_id, subject_id = row[:_TEXT_START]
        expected_seq = self.last_seq + 1
        if seq != expected_seq:
            return expected_seq, f"番号 {expected_seq} の記録が欠けています"
        if prev_hash != self.last_hash:
            return seq, "直前の記録とのつながり（prev_hash）が一致しません"
        try:
            detail = json.loads(detail_text)
        except (TypeError, ValueError):
            return seq, "詳細（detail）が JSON として読めません"
        try:
            occurred_at = timestamp_text(occurred)
        except (TypeError, ValueError):
            return seq, "日時（occurred_at）が読めません"
        if key_version is None:
            if self.keyed_seen:
                return seq, "鍵付きの記録の後に鍵のない旧形式の記録があります（鍵なしで再計算された疑い）"
            if seq > self.legacy_until:
                return seq, "鍵のない旧形式の記録で、チェックポイントで固定されていません（鍵なしで再計算された疑い）"
            self.legacy += 1
            self.first_legacy_seq = self.first_legacy_seq or seq
            key = None
        else:
            self.keyed_seen = True
            key = self._keys[key_version]
            if key is None:
                return seq, f"記録の鍵（版 {key_version}）が鍵ストアにありません"
        # The row in its hashed form (app.audit.chain): ids and time as text, the detail parsed. The tenant id is
        # the one the page was selected by (equal to the stored one by the query's condition).
        payload = dict(zip(_TEXT_FIELDS, row[_TEXT_START:], strict=True))
        payload.update(
            seq=seq,
            prev_hash=prev_hash,
            detail=detail,
            occurred_at=occurred_at,
            tenant_id=self._tenant_text,
            actor_user_id=id_text(actor_id),
            subject_person_id=id_text(subject_id),
        )
        try:
            matches = payload_hash(payload, key_version, key) == mac
        except (TypeError, ValueError):  # e.g. NaN in a tampered detail: not encodable, so not what was hashed
            matches = False
        if not matches:
            return seq, "記録の内容が MAC と一致しません（改ざんの疑い）"
        return None


# A page's columns, by position: the chain fields first, then the plain text fields. Read as the database returns
# them (no type processing): ids (SQLite: hex text; PostgreSQL: UUID) and the time (SQLite: text; PostgreSQL:
# datetime), the enums and the detail as text (a tampered value is reported instead of crashing the reader).
_CHAIN_FIELDS = (
    "seq",
    "prev_hash",
    "hash",
    "key_version",
    "detail",
    "occurred_at",
    "actor_user_id",
    "subject_person_id",
)
_TEXT_START = len(_CHAIN_FIELDS)
_TEXT_FIELDS = tuple(f for f in HASHED_FIELDS if f not in (*_CHAIN_FIELDS, "tenant_id"))


def _raw_column(name: str) -> Any:
    column = ENTRIES.c[name]
    if name in ("action", "result", "detail"):
        return column.cast(String()).label(name)
    if name in ("occurred_at", "actor_user_id", "subject_person_id"):
        return type_coerce(column, NullType()).label(name)
    return column


_PAGE_COLUMNS = [_raw_column(name) for name in (*_CHAIN_FIELDS, *_TEXT_FIELDS)]


def _page(tenant_id: uuid.UUID, after_seq: int) -> Any:
    return (
        select(*_PAGE_COLUMNS)
        .where(ENTRIES.c.tenant_id == tenant_id, ENTRIES.c.seq > after_seq)
        .order_by(ENTRIES.c.seq)
        .limit(VERIFY_PAGE)
    )


async def read_head(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[int, str]:
    """The chain head (last seq, last MAC) as the main database says."""
    query = head_filter(select(HEADS.c.last_seq, HEADS.c.last_hash), tenant_id)
    row = (await session.execute(query)).first()
    return (0, GENESIS_HASH) if row is None else (int(row.last_seq), str(row.last_hash))


def _head_problem(scan: ChainScan, head_seq: int, head_hash: str) -> tuple[int, str] | None:
    if scan.last_seq < head_seq:
        return scan.last_seq + 1, f"番号 {scan.last_seq + 1} 以降の記録が削除されています"
    if scan.last_seq > head_seq:
        return head_seq + 1, f"番号 {head_seq + 1} 以降の記録がチェーンの先頭情報にありません"
    if scan.last_hash != head_hash:
        return scan.last_seq, "最後の記録がチェーンの先頭情報と一致しません"
    return None


def _checkpoint_problems(scan: ChainScan, checkpoints: Sequence[Checkpoint]) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    for checkpoint in checkpoints:
        if not checkpoint.authentic:
            reason = f"鍵ストアのチェックポイント（番号 {checkpoint.seq}）の MAC が一致しません（鍵ストア改ざんの疑い）"
            problems.append((checkpoint.seq, reason))
        elif checkpoint.seq > scan.last_seq:
            problems.append(
                (
                    scan.last_seq + 1,
                    f"番号 {scan.last_seq + 1}〜{checkpoint.seq} の記録がありません"
                    f"（チェックポイント {checkpoint.seq} より前で記録が終わっています: 末尾の削除）",
                )
            )
        elif scan.macs.get(checkpoint.seq) != checkpoint.mac:
            reason = f"番号 {checkpoint.seq} の記録がチェックポイントと一致しません（書き換えの疑い）"
            problems.append((checkpoint.seq, reason))
    return problems


async def verify_chain(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    extra_checkpoints: Sequence[Checkpoint] = (),
    progress: Progress | None = None,
) -> ChainReport:
    """Recompute one tenant's chain against its head and checkpoints (the key store's and ``extra_checkpoints``).

    Safe while writers append (rows past the head are re-checked against a newer head). ``progress(tenant_id,
    entries)`` is called every ``PROGRESS_EVERY`` entries. AuditKeyError when no key source is registered for the
    database.
    """
    source = key_source(session)
    checkpoints = [*await source.checkpoints(tenant_id), *(c for c in extra_checkpoints if c.tenant_id == tenant_id)]
    checkpoints.sort(key=lambda c: c.seq)
    anchored = max((c.seq for c in checkpoints if c.authentic), default=0)
    head = await read_head(session, tenant_id)
    scan = ChainScan(tenant_id, source, legacy_until=anchored, watch=[c.seq for c in checkpoints], progress=progress)
    await scan.read(session)
    for _ in range(10):
        if scan.last_seq <= head[0]:
            break
        newer = await read_head(session, tenant_id)
        if newer == head:  # rows past a head that no writer moved: appended behind the log's back
            break
        head = newer
        await scan.read(session)
    problems = [p for p in (scan.bad, _head_problem(scan, *head)) if p is not None]
    problems += _checkpoint_problems(scan, checkpoints)
    unconfirmed = scan.macs.get(anchored) != _mac_at(checkpoints, anchored)
    if scan.first_legacy_seq is not None and scan.bad is None and unconfirmed:
        # The unkeyed entries were let through on the strength of the newest checkpoint, which they do not match
        # (and no later break explains the mismatch): the prefix was recomputed without the key.
        reason = "鍵のない旧形式の記録がチェックポイントと一致しません（鍵なしで再計算された疑い）"
        problems.append((scan.first_legacy_seq, reason))
    latest = checkpoints[-1].seq if checkpoints else None
    if not problems:
        return ChainReport(tenant_id, True, scan.count, reason="正常", legacy=scan.legacy, checkpoint_seq=latest)
    seq, reason = min(problems, key=lambda p: p[0])
    return ChainReport(tenant_id, False, scan.count, seq, reason, legacy=scan.legacy, checkpoint_seq=latest)


def _mac_at(checkpoints: Sequence[Checkpoint], seq: int) -> str | None:
    return next((c.mac for c in checkpoints if c.seq == seq and c.authentic), None)


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def verify_all(
    session: AsyncSession, *, extra_checkpoints: Sequence[Checkpoint] = (), progress: Progress | None = None
) -> list[ChainReport]:
    """Verify every tenant that has entries, a chain head or a checkpoint (so a wholly deleted chain shows)."""
    source = key_source(session)
    tenants = select(ENTRIES.c.tenant_id).distinct().union(select(HEADS.c.tenant_id))
    # A UNION loses the column type on SQLite: the ids come back as hex text.
    tenant_ids = {_as_uuid(t) for t in (await session.execute(tenants)).scalars()}
    tenant_ids |= {c.tenant_id for c in await source.checkpoints()}
    tenant_ids |= {c.tenant_id for c in extra_checkpoints}
    return [
        await verify_chain(session, tenant_id, extra_checkpoints=extra_checkpoints, progress=progress)
        for tenant_id in sorted(tenant_ids)
    ]
