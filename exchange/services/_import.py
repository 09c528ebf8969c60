"""Importing a payroll file: check (nothing written), then commit (the whole file in one transaction, or nothing).

Both steps take the file's bytes and a ``Progress`` (``app.jobs``), so a page runs them inside its request for a
small CSV and the job runner in the background for the rest. The file is read a batch of ``BATCH_ROWS`` rows at
a time: decoding, parsing and the file's checks (``exchange.reading``, ``exchange.checks``) in a ``BULK`` worker
thread, then the database step (``Resolver``: lookups by chunk, blind indexes by the vault) and, for a commit, the
writes (``Applier``) — memory stays that of a batch. The rules of what each layout may do are in
``exchange.services._import_targets``.

A commit checks each batch before writing it and stops writing at the first error (or warning, unless accepted);
it reads on to the end so the report is whole, then raises ``ImportRefused``: the caller rolls back, and nothing of
the file stays (the vault destroys the keys it wrote on a rollback). The caller commits a successful one.
"""

from __future__ import annotations

import io
import itertools
import re
import uuid
import zipfile
from collections.abc import Iterator, Sequence

from litestar.exceptions import PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.events import Actor, AuditAction, AuditEvent
from app.audit.log import record_many
from app.auth.models import Role
from app.auth.principal import Principal
from app.jobs import Progress, no_progress
from app.vault import Vault
from app.workers import BULK, run_in_worker
from exchange.checks import ERROR, CheckedRow, FileChecker
from exchange.layouts import Layout, layout_named
from exchange.reading import NO_DATA_ROWS, XLSX, FileRejected, OpenedFile, SourceRow, detect_kind, open_rows
from exchange.services._import_apply import Applier, ApplyFailed
from exchange.services._import_plan import NumberAction, RowPlan
from exchange.services._import_report import ImportOutcome, ImportRefused, ImportReport
from exchange.services._import_targets import Resolver
from tenants.services import bulk

BATCH_ROWS = 1000  # rows read, looked up and written together
IMPORT_FUNCTION = "ファイル取込"
IMPORTERS = frozenset({Role.ADMIN, Role.HANDLER})  # 事務取扱担当者: admins and handlers
REFUSED_ERRORS = "エラーがあるため取り込めません。報告の内容に沿ってファイルを直し、もう一度読み込んでください。"
REFUSED_WARNINGS = (
    "警告があります。報告の内容を確かめ、「警告を確認しました」にチェックを入れてから取り込んでください。"
)
_DIMENSION = re.compile(rb'<dimension ref="[A-Z]+\d+:[A-Z]+(\d+)"')


def require_importer(principal: Principal) -> None:
    """Only admins and handlers import (PermissionDeniedException otherwise)."""
    if principal.role not in IMPORTERS:
        raise PermissionDeniedException()


async def check_import(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    data: bytes,
    layout_name: str,
    progress: Progress = no_progress,
) -> ImportReport:
    """Check a file against the layout and the tenant's people; nothing is written.

    ``layout_name`` is one of ``exchange.LAYOUT_NAMES`` (ValueError otherwise). The report has every problem,
    row by row and column by column, in Japanese (never a number) and the counts of what a commit would do; a
    file that cannot be read as the layout at all has ``rejected`` set. ``progress`` is awaited after each batch
    (rows done, rows in all — an estimate until the end) and may raise ``JobCancelled``.
    """
    require_importer(principal)
    run = _Run(session, vault, principal.tenant_id, layout_named(layout_name), progress)
    await run.read(data)
    return run.report


async def commit_import(
    session: AsyncSession,
    vault: Vault,
    principal: Principal,
    actor: Actor,
    data: bytes,
    layout_name: str,
    accepted_warnings: bool,
    progress: Progress = no_progress,
    expected_rows: int = 0,
) -> ImportOutcome:
    """Check the file again and apply it in the caller's transaction: people added or updated as the layout
    allows, numbers registered as 代理登録 (one audit entry each), one 取込 entry for the file. Flushes in batches;
    the caller commits.

    ImportRefused (with the report) when the file has errors, or warnings and ``accepted_warnings`` is false: the
    caller must then roll back (batches before the problem may have been written). ``actor`` is who the log names
    (the principal's own snapshot for a page; the job's owner for a background job). ``expected_rows``: the rows
    the check counted (progress's total when the file does not state its size).
    """
    require_importer(principal)
    fill = await bulk.start_fill(session, vault, tenant_id=principal.tenant_id, actor=actor, log_additions=True)
    applier = Applier(session, vault, principal.tenant_id, actor, fill)
    run = _Run(session, vault, principal.tenant_id, layout_named(layout_name), progress)
    await run.read(data, applier=applier, accepted_warnings=accepted_warnings, expected_rows=expected_rows)
    report = run.report
    if not report.committable(accepted_warnings) or run.apply_failed:
        reason = report.rejected or (REFUSED_ERRORS if report.has_errors or run.apply_failed else REFUSED_WARNINGS)
        raise ImportRefused(report, reason)
    await applier.finish()
    written = await fill.finish()
    applied = applier.applied
    outcome = ImportOutcome(
        report=report,
        registered=applied.registered + written.numbers,
        replaced=applied.replaced,
        people_added=written.people,
        people_updated=applied.people_updated,
        departments_added=written.departments,
        flagged=applied.flagged + written.flagged,
    )
    await record_many(session, [_summary_event(principal, actor, layout_name, outcome)])
    return outcome


def _summary_event(principal: Principal, actor: Actor, layout_name: str, outcome: ImportOutcome) -> AuditEvent:
    counts = outcome.report.counts
    detail: dict[str, object] = {
        "event": "file_imported",
        "layout": layout_name,
        "rows": counts.rows,
        "skipped": counts.skipped,
        "registered": outcome.registered,
        "replaced": outcome.replaced,
        "unchanged": counts.unchanged,
        "people_added": outcome.people_added,
        "people_updated": outcome.people_updated,
        "departments_added": outcome.departments_added,
        "flagged": outcome.flagged,
        "warnings": counts.warnings,
    }
    return AuditEvent(
        tenant_id=principal.tenant_id, action=AuditAction.IMPORT, actor=actor, function=IMPORT_FUNCTION, detail=detail
    )


def estimated_rows(data: bytes) -> int:
    """About how many data rows a file has, without reading it (CSV: its line ends; .xlsx: the sheet's stated
    size, 0 when it states none). For choosing between a request and a background job, and for progress."""
    try:
        kind = detect_kind(io.BytesIO(data))
    except FileRejected:
        return 0
    if kind != XLSX:
        return max(0, data.count(b"\n") - 1 + (not data.endswith(b"\n") and bool(data)))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("xl/worksheets/sheet1.xml") as part:
            head = part.read(4096)
    except (KeyError, zipfile.BadZipFile):
        return 0
    found = _DIMENSION.search(head)
    return max(0, int(found.group(1)) - 1) if found else 0


def _checked(rows: Iterator[SourceRow], checker: FileChecker, size: int) -> list[CheckedRow]:
    """The next ``size`` rows, read and checked (CPU work: run in a worker thread); FileRejected mid-file."""
    return [checker.check(row) for row in itertools.islice(rows, size)]


class _Run:
    """One reading of a file: the report as it grows, and (for a commit) the batches written."""

    def __init__(
        self, session: AsyncSession, vault: Vault, tenant_id: uuid.UUID, layout: Layout, progress: Progress
    ) -> None:
        self.session = session
        self.vault = vault
        self.tenant_id = tenant_id
        self.layout = layout
        self.progress = progress
        self.report = ImportReport(layout=layout.name)
        self.apply_failed = False

    async def read(
        self, data: bytes, *, applier: Applier | None = None, accepted_warnings: bool = False, expected_rows: int = 0
    ) -> None:
        """Check the file batch by batch; with ``applier``, write each batch while nothing stands in the way."""
        try:
            opened: OpenedFile = await run_in_worker(BULK, open_rows, data, self.layout)
        except FileRejected as exc:
            self.report.rejected = exc.message
            return
        self.report.kind, self.report.encoding = opened.kind, opened.encoding
        total = estimated_rows(data) or expected_rows
        checker = FileChecker(self.layout)
        resolver = Resolver(self.session, self.vault, self.tenant_id, self.layout, opened.encoding)
        writing = applier is not None
        done = 0
        while True:
            try:
                rows = await run_in_worker(BULK, _checked, opened.rows, checker, BATCH_ROWS)
            except FileRejected as exc:
                self.report.rejected = exc.message
                break
            if not rows:
                break
            plans = await resolver.resolve(rows)
            self._count(plans)
            writing = writing and self.report.committable(accepted_warnings)
            if writing and applier is not None:
                try:
                    await applier.apply(plans, resolver.new_departments)
                except ApplyFailed as exc:
                    self.apply_failed, writing = True, False
                    for line in exc.lines:
                        self.report.add(line)
            done += len(rows)
            # A total the file does not state (a workbook without its size) or stated short stays unknown (0): the
            # page shows the rows done, never a bar at 100 % for the whole run.
            await self.progress(done, total if total >= done else 0)
        if not self.report.rejected and self.report.counts.rows == self.report.counts.skipped:
            self.report.rejected = NO_DATA_ROWS  # a header alone (or skipped rows only): most likely the wrong file
        await self.progress(done, done)

    def _count(self, plans: Sequence[RowPlan]) -> None:
        counts = self.report.counts
        for plan in plans:
            counts.rows += 1
            counts.skipped += plan.skip
            for line in plan.report:
                self.report.add(line)
            if any(line.level == ERROR for line in plan.report):
                counts.rows_with_errors += 1
                continue
            for target in plan.targets:
                counts.to_register += target.action is NumberAction.REGISTER
                counts.to_replace += target.action is NumberAction.REPLACE
                counts.unchanged += target.action is NumberAction.UNCHANGED
                counts.people_to_add += target.record is not None
                counts.people_to_update += bool(target.changes)
