"""Settings: read once from ``MNV_*`` environment variables, typed, validated at start-up."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import msgspec

ENV_PREFIX = "MNV_"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# The most MNV_VERIFICATION_MAX_IMAGE_BYTES may be: the upload route's body limit is made for six images of this size
# (verification.controllers.MAX_BODY_BYTES); a larger setting would refuse valid uploads with a bare 413.
VERIFICATION_IMAGE_CEILING = 10 * 1024 * 1024
# Served as is under /static (app.main): no directory of data (the key file, databases, sealed blobs) may be in it.
STATIC_DIR = Path(__file__).resolve().parent / "static"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Every tunable of the service. Defaults are the embedded (laptop) mode."""

    data_dir: str = "./var"
    database_url: str = ""
    # PostgreSQL: the tables' owner, who runs migrations and grants the application's role (database_url's user,
    # which owns no table and is held by row-level security, app.rls) what it needs. Empty: database_url.
    migration_database_url: str = ""
    keystore_url: str = ""
    master_key_file: str = ""
    master_key: str = ""
    store: Literal["database", "redis"] = "database"
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    base_url: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    debug: bool = False
    # Sessions and sign-in
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    stepup_minutes: int = 5
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    signin_rate_per_minute: int = 30
    api_rate_per_minute: int = 600  # calls per API token per clock minute (429 with Retry-After beyond)
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs); none by default: the socket
    # address is the client for rate limits and the log.
    trusted_proxies: str = ""
    # Argon2id, m=64 MiB t=2 p=1. Measured with bench/argon2_params.py on this 2-core machine: ~130-160 ms per
    # hash alone, ~160 ms with both cores hashing, ~180-220 ms while other work loads the machine (t=3 was ~215 ms
    # alone and over 300 ms loaded; OWASP's minimum m=19 MiB t=2 ~30 ms). 3.4x OWASP's minimum memory at its pass
    # count, and a sign-in stays within 100-300 ms. p=1: a sign-in takes one core, leaving the other for requests.
    # Tests lower these.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 1
    # Database connections per app process (main database; the key store gets the same limits): a request waits at
    # most db_pool_timeout seconds for a free one, then gets a 503 with Retry-After (never a 500). On PostgreSQL
    # keep workers × (size + overflow) below max_connections. On SQLite the writes queue on the one write lock
    # anyway; more connections only serve more concurrent readers, and all size + overflow are kept once opened.
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout: float = 10.0
    # "null": no pool on PostgreSQL, a connection per checkout (behind PgBouncer in transaction mode, and in tests,
    # where the test client runs the app in a thread of its own: a pooled connection must never serve two event
    # loops). The size, overflow and timeout then do not apply. SQLite keeps its pool.
    db_pool: Literal["queue", "null"] = "queue"
    # Collection
    invitation_days: int = 14
    payee_link_days: int = 14
    reveal_seconds: int = 30
    # Maintenance: every this many seconds each app process destroys keys of erased numbers and of registrations
    # that never committed (the latter once older than the grace), checkpoints the audit chains and truncates the
    # SQLite WALs (0 turns the in-app task off: then run `mnvault purge` from cron).
    maintenance_seconds: int = 300
    orphan_key_grace_minutes: int = 10
    # Background jobs (app.jobs): by default the database is the queue and each app process runs the jobs itself
    # (jobs_in_app); with job_queue_url (redis://…) the app puts the job's id on a SAQ queue and `mnvault worker`
    # processes run them. Either way the jobs table is the source of truth.
    job_queue_url: str = ""
    job_queue_name: str = "mnvault-jobs"
    jobs_in_app: bool = True
    job_concurrency: int = 1  # jobs one process (app or worker) runs at once
    job_poll_seconds: float = 2.0  # how often an idle runner looks for queued jobs it was not told about
    job_stale_seconds: int = 120  # a running job without a heartbeat for this long was interrupted: failed
    job_report_hours: int = 24  # a finished job's report is kept this long (or until downloaded, per kind)
    # ID-document images (issue 12): sealed blobs in a local directory (default: <data dir>/blobs, never under a
    # static path) or an S3-compatible bucket; credentials for S3 come from the standard AWS environment/config.
    blob_store: Literal["local", "s3"] = "local"
    blob_dir: str = ""
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = ""
    verification_quota_bytes: int = 1024 * 1024 * 1024  # per tenant, sealed bytes
    verification_max_image_bytes: int = 10 * 1024 * 1024  # one uploaded image, before the pipeline
    # Mail (optional; letters and copyable URLs always work without it)
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "mnvault@localhost"
    smtp_starttls: bool = False
    # 本人確認オプション (verification/): images are kept this many days after approval (0: deleted at approval).
    verification_keep_days: int = 0
    # Billing (billing/, issue 13; seed 003): the free trial of a new tenant, and the read-only grace after a
    # contract's end before the operator erases the whole tenant (days).
    trial_days: int = 30
    contract_grace_days: int = 30
    # File exchange between a client and its 社労士事務所 (partners/, issue 14; seed 000): bytes per file, days
    # an unsaved file is kept, sealed bytes per client tenant; files per person in the 個人ボックス (seed 002).
    exchange_max_file_bytes: int = 10 * 1024 * 1024
    exchange_keep_days: int = 30
    exchange_quota_bytes: int = 5 * 1024 * 1024 * 1024
    person_box_limit: int = 10
    # Published documents (定型文書, partners/, issue 15): bytes per document (at most 100 per office).
    partner_document_max_bytes: int = 20 * 1024 * 1024

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_path / 'mnvault.db'}"

    @property
    def effective_migration_database_url(self) -> str:
        return self.migration_database_url or self.effective_database_url

    @property
    def effective_keystore_url(self) -> str:
        return self.keystore_url or f"sqlite+aiosqlite:///{self.data_path / 'keystore.db'}"

    @property
    def effective_master_key_file(self) -> Path:
        return Path(self.master_key_file) if self.master_key_file else self.data_path / "master.key"

    @property
    def effective_blob_dir(self) -> Path:
        return Path(self.blob_dir) if self.blob_dir else self.data_path / "blobs"

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def served_over_tls(self) -> bool:
        return self.effective_base_url.startswith("https://")

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``MNV_TRUSTED_PROXIES`` parsed (ValueError when malformed)."""
        parts = [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts)

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


_POSITIVE_FIELDS = {
    "port",
    "workers",
    "db_pool_size",
    "session_idle_minutes",
    "session_absolute_hours",
    "stepup_minutes",
    "lockout_threshold",
    "lockout_minutes",
    "signin_rate_per_minute",
    "api_rate_per_minute",
    "argon2_time_cost",
    "argon2_memory_kib",
    "argon2_parallelism",
    "invitation_days",
    "payee_link_days",
    "reveal_seconds",
    "smtp_port",
    "job_concurrency",
    "job_stale_seconds",
    "job_report_hours",
    "verification_quota_bytes",
    "verification_max_image_bytes",
    "exchange_max_file_bytes",
    "exchange_keep_days",
    "exchange_quota_bytes",
    "person_box_limit",
    "partner_document_max_bytes",
}


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _convert(field: str, raw: str, annotation: Any) -> Any:
    try:
        return msgspec.convert(raw, type=annotation, strict=False)
    except msgspec.ValidationError:
        choices = get_args(annotation)
        if choices:
            expected = " / ".join(str(c) for c in choices)
        else:
            expected = getattr(annotation, "__name__", str(annotation))
        raise SettingsError(f"{env_name(field)}={raw!r} は不正です（{expected} を指定してください）") from None


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``MNV_*`` variables (and explicit overrides); raise SettingsError naming the variable."""
    environ = os.environ if environ is None else environ
    hints = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    values: dict[str, Any] = {}
    for field, annotation in hints.items():
        name = env_name(field)
        if name in environ:
            values[field] = _convert(field, environ[name].strip(), annotation)
    values.update(overrides)
    for field in _POSITIVE_FIELDS:
        if field in values and (not isinstance(values[field], int) or values[field] <= 0):
            raise SettingsError(f"{env_name(field)}={values[field]!r} は正の整数で指定してください")
    if "db_pool_timeout" in values and not (
        isinstance(values["db_pool_timeout"], int | float) and values["db_pool_timeout"] > 0
    ):
        raise SettingsError(f"{env_name('db_pool_timeout')}={values['db_pool_timeout']!r} は正の秒数で指定してください")
    for field in (
        "maintenance_seconds",
        "orphan_key_grace_minutes",
        "db_max_overflow",
        "verification_keep_days",
        "trial_days",
        "contract_grace_days",
    ):
        if field in values and (not isinstance(values[field], int) or values[field] < 0):
            raise SettingsError(f"{env_name(field)}={values[field]!r} は 0 以上の整数で指定してください")
    if "job_poll_seconds" in values and not (
        isinstance(values["job_poll_seconds"], int | float) and 0 < values["job_poll_seconds"] <= 3600
    ):
        raise SettingsError(
            f"{env_name('job_poll_seconds')}={values['job_poll_seconds']!r} は"
            " 0 より大きく 3600 以下の秒数で指定してください"
        )
    if values.get("verification_max_image_bytes", 0) > VERIFICATION_IMAGE_CEILING:
        raise SettingsError(
            f"{env_name('verification_max_image_bytes')}={values['verification_max_image_bytes']!r} は"
            f" {VERIFICATION_IMAGE_CEILING} （10 MB）以下で指定してください"
        )
    if values.get("port", 8000) > 65535:
        raise SettingsError(f"{env_name('port')}={values['port']!r} は 1〜65535 で指定してください")
    settings = Settings(**values)
    _check_urls(settings)
    return settings


def _check_urls(settings: Settings) -> None:
    for field, url in (
        ("database_url", settings.effective_database_url),
        ("keystore_url", settings.effective_keystore_url),
    ):
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise SettingsError(
                f"{env_name(field)}={url!r} は不正です（sqlite+aiosqlite:// か postgresql+asyncpg:// で始めてください）"
            )
    if settings.migration_database_url and not settings.migration_database_url.startswith("postgresql+asyncpg://"):
        raise SettingsError(
            f"{env_name('migration_database_url')} は PostgreSQL の URL（postgresql+asyncpg://）で指定してください"
        )
    if settings.effective_database_url == settings.effective_keystore_url:
        raise SettingsError(
            f"{env_name('keystore_url')} は {env_name('database_url')} と別のデータベースにしてください"
        )
    if settings.store == "redis" and not settings.redis_url:
        raise SettingsError(f"{env_name('redis_url')} が未設定です（{env_name('store')}=redis のとき必須）")
    if settings.job_queue_url and not settings.job_queue_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            f"{env_name('job_queue_url')} は不正です（redis:// か rediss:// で始まる Redis の URL を指定してください）"
        )
    _check_blob_store(settings)
    try:
        settings.trusted_proxy_networks  # noqa: B018 - parsed here so a typo stops the start
    except ValueError:
        raise SettingsError(
            f"{env_name('trusted_proxies')}={settings.trusted_proxies!r} は不正です"
            "（IP アドレスか CIDR をカンマ区切りで指定してください。例: 10.0.0.0/8,192.0.2.10）"
        ) from None
    if settings.base_url and not settings.base_url.startswith(("http://", "https://")):
        raise SettingsError(f"{env_name('base_url')}={settings.base_url!r} は http:// か https:// で始めてください")


def _check_blob_store(settings: Settings) -> None:
    for field, directory in (("data_dir", settings.data_path), ("blob_dir", settings.effective_blob_dir)):
        if directory.resolve().is_relative_to(STATIC_DIR):
            raise SettingsError(
                f"{env_name(field)}={str(directory)!r} は公開される静的ファイルのディレクトリ（{STATIC_DIR}）の中です。"
                "別のディレクトリを指定してください"
            )
    if settings.blob_store == "s3" and not settings.s3_bucket:
        raise SettingsError(f"{env_name('s3_bucket')} が未設定です（{env_name('blob_store')}=s3 のとき必須）")
    if settings.s3_endpoint_url and not settings.s3_endpoint_url.startswith(("http://", "https://")):
        raise SettingsError(
            f"{env_name('s3_endpoint_url')}={settings.s3_endpoint_url!r} は http:// か https:// で始めてください"
        )
    if settings.s3_bucket and not _BUCKET.fullmatch(settings.s3_bucket):
        raise SettingsError(
            f"{env_name('s3_bucket')}={settings.s3_bucket!r} は不正です"
            "（英小文字・数字・ハイフン・ピリオドの 3〜63 文字）"
        )
