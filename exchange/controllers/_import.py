"""Import pages: check, report, commit (issue 10)."""

from typing import Any

ROUTES: list[Any] = []
