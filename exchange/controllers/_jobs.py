"""Background job pages: progress, cancel, report download (issue 10)."""

from typing import Any

ROUTES: list[Any] = []
