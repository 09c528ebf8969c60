"""Checkpoints: chain heads kept outside the main database, in the key store and in signed files for auditors.

A checkpoint is written only after the entries since the previous one were verified (their MACs, under keys the
main database never holds), so it records a head that was honest then. Later, ``audit verify`` compares the chain
with every checkpoint: a rewritten entry at or before one, or a chain ending before one, is reported. A file
exported with ``mnvault audit checkpoint --out`` is signed with Ed25519 (a key derived from the audit key), so an
auditor who keeps it can prove the log later lost or changed entries, even against someone who holds both
databases (and with the public key, check the file was made by this deployment).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.keys import AuditKeySource, Checkpoint, key_source
from app.audit.tables import HEADS, TENANTS
from app.audit.verify import ChainScan
from app.db import utcnow

FILE_FORMAT = "mnvault-audit-checkpoint"
FILE_VERSION = 1


class CheckpointFileError(ValueError):
    """The checkpoint file is unreadable, malformed, or its signature does not match this deployment's key."""


@dataclass
class CheckpointRun:
    """What one checkpoint pass did: new checkpoints, tenants already up to date, chains found broken."""

    written: list[Checkpoint] = field(default_factory=list)
    unchanged: int = 0
    broken: dict[uuid.UUID, tuple[int, str]] = field(default_factory=dict)


async def write_checkpoints(session: AsyncSession, *, accept_legacy: bool = False) -> CheckpointRun:
    """Verify each chain from its last checkpoint to its end and keep the new end in the key store.

    Cheap enough to run every few minutes: only entries since the last checkpoint are read. A broken chain
    gets no checkpoint (it is reported instead). ``accept_legacy`` anchors unkeyed v1 entries written before
    keyed chains existed (once, at upgrade, after a full ``audit verify``); never set by the periodic task.
    """
    source = key_source(session)
    latest: dict[uuid.UUID, Checkpoint] = {}
    for checkpoint in await source.checkpoints():
        if checkpoint.authentic:
            latest[checkpoint.tenant_id] = checkpoint  # oldest first: the last one wins
    run = CheckpointRun()
    known_broken = await _known_breaks(session)
    heads = (await session.execute(select(HEADS.c.tenant_id, HEADS.c.last_seq))).all()
    for tenant_id, last_seq in sorted(heads):
        if tenant_id in known_broken:  # no new checkpoint over a break a full check found (until one finds none)
            run.broken[tenant_id] = known_broken[tenant_id]
            continue
        previous = latest.get(tenant_id)
        if previous is not None and previous.seq >= last_seq:
            run.unchanged += 1
            continue
        start = previous.seq if previous else 0
        scan = ChainScan(
            tenant_id,
            source,
            after_seq=start,
            prev_hash=previous.mac if previous else "0" * 64,
            legacy_until=2**62 if accept_legacy else start,
        )
        await scan.read(session)
        if scan.bad is None and scan.last_seq < last_seq:
            scan.bad = (scan.last_seq + 1, f"番号 {scan.last_seq + 1} 以降の記録が削除されています")
        if scan.bad is not None:
            run.broken[tenant_id] = scan.bad
        elif scan.last_seq > start:
            run.written.append(Checkpoint(tenant_id, scan.last_seq, scan.last_hash))
    await source.add_checkpoints(run.written)
    return run


async def _known_breaks(session: AsyncSession) -> dict[uuid.UUID, tuple[int, str]]:
    """Tenants whose last full check (``audit_chain_checks``, kind ``full``) found their chain broken: the first bad
    entry and why. A break before the last checkpoint is invisible to the incremental scan, so it must stop it."""
    from app.audit.models import AuditChainCheck

    statement = select(AuditChainCheck.tenant_id, AuditChainCheck.first_bad_seq, AuditChainCheck.reason).where(
        AuditChainCheck.kind == "full", AuditChainCheck.ok.is_(False)
    )
    return {row.tenant_id: (row.first_bad_seq or 0, row.reason) for row in (await session.execute(statement)).all()}


def _signing_key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


async def public_key(source: AuditKeySource, version: int | None = None) -> str:
    """The base64 Ed25519 public key checkpoint files are signed with (give it to the auditor once)."""
    version = await source.current_version() if version is None else version
    return base64.b64encode(_public_bytes(_signing_key(await source.signing_seed(version)).public_key())).decode()


async def export_checkpoint_file(session: AsyncSession, path: Path) -> dict[str, Any]:
    """Write the newest checkpoint of every tenant to ``path`` as signed JSON; returns the document."""
    source = key_source(session)
    latest: dict[uuid.UUID, Checkpoint] = {}
    for checkpoint in await source.checkpoints():
        if checkpoint.authentic:
            latest[checkpoint.tenant_id] = checkpoint
    codes = {row.id: row.code for row in (await session.execute(select(TENANTS.c.id, TENANTS.c.code))).all()}
    version = await source.current_version()
    key = _signing_key(await source.signing_seed(version))
    body: dict[str, Any] = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "created_at": utcnow().astimezone(dt.UTC).isoformat(),
        "key_version": version,
        "public_key": base64.b64encode(_public_bytes(key.public_key())).decode(),
        "heads": [
            {"tenant_id": str(c.tenant_id), "tenant_code": codes.get(c.tenant_id, ""), "seq": c.seq, "mac": c.mac}
            for c in sorted(latest.values(), key=lambda c: str(c.tenant_id))
        ],
    }
    document = {**body, "signature": base64.b64encode(key.sign(_canonical(body))).decode()}
    await asyncio.to_thread(_write_file, path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    return document


def _write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


async def read_checkpoint_file(source: AuditKeySource, path: Path) -> list[Checkpoint]:
    """The heads of a checkpoint file whose signature matches this deployment's key; CheckpointFileError else."""
    try:
        document = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
        body = {k: v for k, v in document.items() if k != "signature"}
        if body.get("format") != FILE_FORMAT or body.get("version") != FILE_VERSION:
            raise CheckpointFileError(f"{path} はチェックポイントファイルではありません")
        signature = base64.b64decode(document["signature"], validate=True)
        version = int(body["key_version"])
        heads = [(uuid.UUID(h["tenant_id"]), int(h["seq"]), str(h["mac"])) for h in body["heads"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, CheckpointFileError):
            raise
        raise CheckpointFileError(f"チェックポイントファイル {path} を読み込めません") from None
    key = _signing_key(await source.signing_seed(version)).public_key()
    if body.get("public_key") != base64.b64encode(_public_bytes(key)).decode():
        raise CheckpointFileError(f"チェックポイントファイル {path} はこのサービスの鍵で署名されていません")
    try:
        key.verify(signature, _canonical(body))
    except InvalidSignature:
        raise CheckpointFileError(f"チェックポイントファイル {path} の署名が一致しません（改ざんの疑い）") from None
    return [Checkpoint(tenant_id, seq, mac) for tenant_id, seq, mac in heads]
