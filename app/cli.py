"""The ``mnvault`` command line: init, migrate, serve, demo, version (and the vault/audit tools)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from app import __version__
from app.config import Settings, SettingsError, load_settings

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
        except OSError as exc:
            raise CommandError(f"{exc.strerror or exc}: {exc.filename or ''}".strip()) from None

    return wrapper  # type: ignore[return-value]


def current_settings() -> Settings:
    return load_settings()


@click.group(help="MyNumber Vault: マイナンバー収集・保管サービスの管理コマンド")
def main() -> None:
    pass


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
        proxy_headers=True,
        server_header=False,
        log_config=None,
    )


def run() -> None:  # pragma: no cover - console entry for `python -m app.cli`
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
