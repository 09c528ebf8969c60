"""The ``mnvault`` command line: init, migrate, serve, worker, demo, version (and the vault, audit and check tools)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from app import __version__
from app.config import Settings, SettingsError, load_settings
from app.vault.errors import VaultError

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """A failure the user can act on: printed as one line, exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"エラー: {self.message}", err=True)


def friendly_errors(fn: F) -> F:
    """Turn known failures into one clear line and a non-zero exit, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SettingsError as exc:
            raise CommandError(str(exc)) from None
        except VaultError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"{exc.strerror or exc}: {exc.filename or ''}".strip()) from None

    return wrapper  # type: ignore[return-value]


def current_settings() -> Settings:
    return load_settings()


@click.group(help="MyNumber Vault: マイナンバー収集・保管サービスの管理コマンド")
def main() -> None:
    # Every command that writes accounts (init, demo, worker...) keeps billing's id usage ledger (app.main).
    import billing.usage  # noqa: F401


@main.command(help="バージョンを表示します。")
def version() -> None:
    click.echo(f"mnvault {__version__}")


@main.command(help="データベースを最新のスキーマに更新します。")
@friendly_errors
def migrate() -> None:
    settings = current_settings()
    from app.bootstrap import migrate_all

    migrate_all(settings)
    click.echo("マイグレーションを適用しました。")


@main.command(help="データディレクトリ・鍵ファイル・スキーマ・最初の運営者アカウントを作成します。")
@friendly_errors
def init() -> None:
    settings = current_settings()
    from app.bootstrap import initialize

    for line in initialize(settings):
        click.echo(line)


@main.command(help="デモ用のテナントとアカウントを作成します（何度実行しても同じ結果になります）。")
@friendly_errors
def demo() -> None:
    settings = current_settings()
    from app.bootstrap import run_demo

    for line in run_demo(settings):
        click.echo(line)


@main.command(help="Web サーバーを起動します。")
@click.option("--host", default=None, help="待ち受けるアドレス (MNV_HOST)")
@click.option("--port", default=None, type=int, help="待ち受けるポート (MNV_PORT)")
@click.option("--workers", default=None, type=int, help="ワーカープロセス数 (MNV_WORKERS)")
@friendly_errors
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    settings = current_settings()
    from app.bootstrap import check_ready

    check_ready(settings)
    import uvicorn

    uvicorn.run(
        "app.asgi:application",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        proxy_headers=False,  # X-Forwarded-For is read by the app, from MNV_TRUSTED_PROXIES only
        server_header=False,
        log_config=None,
    )


@main.group(help="操作履歴（監査ログ）の管理コマンドです。")
def audit() -> None:
    pass


@audit.command(
    name="verify",
    help="操作履歴の MAC チェーンを鍵ストアのチェックポイント（と --checkpoint のファイル）と照合し、"
    "壊れていれば最初の番号を示して異常終了します。",
)
@click.option("--tenant", default=None, help="対象テナントの ID かコード（省略時はすべて）")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="mnvault audit checkpoint --out で書き出した署名付きファイル（監査人が保管していたもの）",
)
@friendly_errors
def audit_verify(tenant: str | None, checkpoint_file: Path | None) -> None:
    settings = current_settings()
    import asyncio

    from app.audit.checkpoints import CheckpointFileError
    from app.audit.cli import UnknownTenant, run_verify

    try:
        outcome = asyncio.run(
            run_verify(settings, tenant, checkpoint_file, progress=lambda line: click.echo(line, err=True))
        )
    except (UnknownTenant, CheckpointFileError) as exc:
        raise CommandError(str(exc)) from None
    for line in outcome.lines:
        click.echo(line)
    if outcome.failure:
        raise CommandError(outcome.failure)


@audit.command(
    name="checkpoint",
    help="前回のチェックポイント以降の記録を検証し、各テナントのチェーンの先頭を鍵ストアに記録します"
    "（--out で監査人が保管する署名付きファイルも書き出します）。",
)
@click.option(
    "--out", default=None, type=click.Path(dir_okay=False, path_type=Path), help="署名付きチェックポイントの書き出し先"
)
@click.option(
    "--accept-legacy",
    is_flag=True,
    help="鍵のない旧形式の記録をこの時点の内容で固定します（更新直後に一度だけ、audit verify の確認後に）。",
)
@friendly_errors
def audit_checkpoint(out: Path | None, accept_legacy: bool) -> None:
    settings = current_settings()
    import asyncio

    from app.audit.cli import run_checkpoint

    outcome = asyncio.run(run_checkpoint(settings, out, accept_legacy=accept_legacy))
    for line in outcome.lines:
        click.echo(line)
    if outcome.failure:
        raise CommandError(outcome.failure)


@main.group(help="マスター鍵（鍵ファイル）の管理コマンドです。")
def keys() -> None:
    pass


@keys.command(name="rotate", help="マスター鍵に新しい版を追加し、全テナントの鍵を新しい版で再暗号化します。")
@click.option("--retire-old", is_flag=True, help="残りを再暗号化してから古い版を鍵ファイルから削除します。")
@friendly_errors
def keys_rotate(retire_old: bool) -> None:
    settings = current_settings()
    import asyncio

    from app.vault.cli import run_rotate

    for line in asyncio.run(run_rotate(settings, retire_old=retire_old)):
        click.echo(line)


@main.command(
    help="保存期間を過ぎたデータ（期限切れの招待パスワード・取引先用リンク・セッション・取込待ちのファイル・"
    "処理結果レポート・保存されなかった交換ファイルなど。マイナンバーは対象外）を削除し、削除済みの番号の鍵と、登録が確定しなかった番号の鍵"
    "（MNV_ORPHAN_KEY_GRACE_MINUTES より古いもの）を鍵ストアから消去し、操作履歴のチェックポイントを書きます"
    "（アプリ内の定期処理と同じ。cron 用）。"
)
@friendly_errors
def purge() -> None:
    settings = current_settings()
    import asyncio

    from app.main import load_retention_kinds
    from app.vault.cli import run_purge

    load_retention_kinds(settings)
    for line in asyncio.run(run_purge(settings)):
        click.echo(line)
    from verification.cli import run_purge as run_verification_purge

    click.echo(f"本人確認書類の画像・記録を削除しました: {asyncio.run(run_verification_purge(settings))} 件")


@main.command(
    help="バックグラウンド処理（ファイルの取込など）を実行するワーカーを起動します。MNV_JOB_QUEUE_URL があれば"
    "そのキュー（SAQ / Redis）から、なければデータベースから処理を受け取ります。SIGINT / SIGTERM で停止します"
    "（実行中の処理は中断され、内容は保存されません）。"
)
@click.option("--concurrency", default=None, type=int, help="同時に実行する処理の数 (MNV_JOB_CONCURRENCY)")
@friendly_errors
def worker(concurrency: int | None) -> None:
    settings = current_settings()
    if concurrency is not None:
        if concurrency <= 0:
            raise CommandError("--concurrency は正の整数で指定してください")
        settings = load_settings(job_concurrency=concurrency)
    import asyncio

    from app.bootstrap import check_ready
    from app.jobs.worker import run_worker_until_signalled
    from app.logs import configure_logging
    from app.main import load_job_kinds

    check_ready(settings)
    configure_logging(settings.log_level, settings.log_format)
    load_job_kinds()
    queue = "SAQ" if settings.job_queue_url else "データベース"
    click.echo(f"ワーカーを起動しました（{queue}、同時実行 {settings.job_concurrency}）。")
    asyncio.run(run_worker_until_signalled(settings))
    click.echo("ワーカーを停止しました。")


@main.group(help="データの整合性を確かめるコマンドです。")
def check() -> None:
    pass


class CheckError(CommandError):
    """The check could not run (exit status 2: 1 means it found differences)."""

    exit_code = 2


@check.command(
    name="counts",
    help="画面の件数（部門・種別・状態ごとの人数）を対象者の全件数え直しと照合し、食い違いを表示して修復します。"
    "終了コード: 0 一致、1 食い違いあり（修復済み、--dry-run では未修復）、2 実行できなかった。",
)
@click.option("--tenant", default=None, help="対象テナントのコードか ID")
@click.option("--all", "all_tenants", is_flag=True, help="すべてのテナントを対象にします")
@click.option("--dry-run", is_flag=True, help="食い違いを表示するだけで修復しません")
def check_counts(tenant: str | None, all_tenants: bool, dry_run: bool) -> None:
    if (tenant is None) == (not all_tenants):
        raise CheckError("--tenant CODE か --all のどちらか一方を指定してください")
    try:
        outcome = _check_counts(tenant, dry_run=dry_run)
    except CommandError as exc:
        raise CheckError(exc.message) from None
    for line in outcome.lines:
        click.echo(line)
    if outcome.differed:
        sys.exit(1)


@friendly_errors
def _check_counts(tenant: str | None, *, dry_run: bool) -> Any:
    settings = current_settings()
    import asyncio

    from tenants.cli import UnknownTenant, run_check_counts

    try:
        return asyncio.run(run_check_counts(settings, tenant, repair=not dry_run))
    except UnknownTenant as exc:
        raise CommandError(str(exc)) from None


@main.group(help="マイナンバーの削除予定（削除予定日）を確かめるコマンドです。")
def deletions() -> None:
    pass


@deletions.command(
    name="due",
    help="削除予定日を過ぎた対象者（社員コード・対象者・削除予定日）を表示します。番号は表示しません。"
    "番号が自動で削除されることはありません。",
)
@click.option("--tenant", required=True, help="対象テナントのコードか ID")
def deletions_due(tenant: str) -> None:
    for line in _deletions_due(tenant):
        click.echo(line)


@friendly_errors
def _deletions_due(tenant: str) -> list[str]:
    settings = current_settings()
    import asyncio

    from tenants.cli import UnknownTenant, run_deletions_due

    try:
        return asyncio.run(run_deletions_due(settings, tenant))
    except UnknownTenant as exc:
        raise CommandError(str(exc)) from None


@main.group(help="給与ソフトなどが API を呼び出すための APIトークンを管理します。")
def tokens() -> None:
    pass


@tokens.command(
    name="create",
    help="APIトークンを発行します。トークンは最後の行に一度だけ表示されます（保存されるのはハッシュだけです）。",
)
@click.option("--tenant", "tenant_code", required=True, help="事業者コード")
@click.option("--name", required=True, help="トークンの名前（操作履歴に記録されます。失効していないものと重複不可）")
@click.option(
    "--scopes",
    required=True,
    help="権限をカンマ区切りで: people:read, people:write, numbers:read, numbers:write",
)
@click.option("--days", type=int, default=None, help="有効期間の日数（1〜365、省略時 90）")
@click.option("--allow", multiple=True, help="許可する接続元の IP アドレスか CIDR（繰り返し指定可。省略時は制限なし）")
def tokens_create(tenant_code: str, name: str, scopes: str, days: int | None, allow: tuple[str, ...]) -> None:
    _print_token_lines("run_create", tenant_code, name, scopes, days, allow)


@tokens.command(name="revoke", help="APIトークンを失効させます（名前か ID で指定）。")
@click.option("--tenant", "tenant_code", required=True, help="事業者コード")
@click.option("--name", default=None, help="失効させるトークンの名前")
@click.option("--id", "token_id", default=None, help="失効させるトークンの ID")
def tokens_revoke(tenant_code: str, name: str | None, token_id: str | None) -> None:
    _print_token_lines("run_revoke", tenant_code, name=name, token_id=token_id)


@tokens.command(name="list", help="事業者の APIトークンを新しい順に表示します（状態・最終利用日時つき）。")
@click.option("--tenant", "tenant_code", required=True, help="事業者コード")
def tokens_list(tenant_code: str) -> None:
    _print_token_lines("run_list", tenant_code)


@friendly_errors
def _print_token_lines(command: str, *args: Any, **kwargs: Any) -> None:
    settings = current_settings()
    import asyncio

    from exchange import cli

    try:
        lines = asyncio.run(getattr(cli, command)(settings, *args, **kwargs))
    except cli.TokenCommandError as exc:
        raise CommandError(str(exc)) from None
    for line in lines:
        click.echo(line)


@main.group(help="削除証明書を発行します。")
def certificates() -> None:
    pass


@certificates.command(
    name="issue", help="期間内の削除記録から削除証明書（PDF）を発行し直します（操作履歴に記録されます）。"
)
@click.option("--tenant", "tenant_code", required=True, help="事業者コード")
@click.option("--from", "start", required=True, help="処理日の開始（YYYY-MM-DD、日本時間）")
@click.option("--to", "end", required=True, help="処理日の終了（YYYY-MM-DD、日本時間、この日を含む）")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="書き出す PDF")
def certificates_issue(tenant_code: str, start: str, end: str, output: Path) -> None:
    for line in _issue_certificate(tenant_code, start, end, output):
        click.echo(line)


@friendly_errors
def _issue_certificate(tenant_code: str, start: str, end: str, output: Path) -> list[str]:
    settings = current_settings()
    import asyncio

    from tenants.cli import CertificateCommandError, run_issue_certificate

    try:
        return asyncio.run(run_issue_certificate(settings, tenant_code, start, end, output))
    except CertificateCommandError as exc:
        raise CommandError(str(exc)) from None


@main.group(help="事業者（テナント）の管理コマンドです。")
def tenants() -> None:
    pass


@tenants.command(
    name="erase",
    help="契約終了後、猶予期間を過ぎた事業者のデータをすべて消去します（鍵の破棄。元に戻せません）。",
)
@click.option("--tenant", "tenant_code", required=True, help="事業者コード")
def tenants_erase(tenant_code: str) -> None:
    for line in _erase_tenant(tenant_code):
        click.echo(line)


@friendly_errors
def _erase_tenant(tenant_code: str) -> list[str]:
    settings = current_settings()
    import asyncio

    from billing.erasure_cli import EraseCommandError, run_erase_tenant

    try:
        return asyncio.run(run_erase_tenant(settings, tenant_code))
    except EraseCommandError as exc:
        raise CommandError(str(exc)) from None


@main.group(help="月次請求（締め・ID数の確認・請求書PDF・訂正）を扱います。")
def billing() -> None:
    pass


@billing.command(
    name="close", help="指定した月の請求を締め、事業者ごとに請求書を発行します（何度実行しても同じ結果）。"
)
@click.option("--month", required=True, help="請求月（YYYY-MM、日本時間）")
def billing_close(month: str) -> None:
    _print_billing_lines("run_close", month)


@billing.command(name="usage", help="事業者の月の日ごとのID数と、請求される数量を表示します。")
@click.option("--tenant", "tenant_code", required=True, help="事業者コード")
@click.option("--month", required=True, help="対象月（YYYY-MM、日本時間）")
def billing_usage(tenant_code: str, month: str) -> None:
    _print_billing_lines("run_usage", tenant_code, month)


@billing.command(name="invoice", help="締めた月の事業者の請求書を PDF に書き出します。")
@click.option("--tenant", "tenant_code", required=True, help="事業者コード")
@click.option("--month", required=True, help="請求月（YYYY-MM、日本時間）")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="書き出す PDF")
def billing_invoice(tenant_code: str, month: str, output: Path) -> None:
    _print_billing_lines("run_invoice", tenant_code, month, output)


@billing.command(
    name="correct",
    help="締めた月の事業者の請求書を取り消し（適格返還請求書）、今のデータで計算し直して再発行します。",
)
@click.option("--tenant", "tenant_code", required=True, help="事業者コード")
@click.option("--month", required=True, help="請求月（YYYY-MM、日本時間）")
def billing_correct(tenant_code: str, month: str) -> None:
    _print_billing_lines("run_correct", tenant_code, month)


@friendly_errors
def _print_billing_lines(command: str, *args: Any) -> None:
    settings = current_settings()
    import asyncio

    from billing import cli

    try:
        lines = asyncio.run(getattr(cli, command)(settings, *args))
    except cli.BillingCommandError as exc:
        raise CommandError(str(exc)) from None
    for line in lines:
        click.echo(line)


def run() -> None:  # pragma: no cover - console entry for `python -m app.cli`
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
