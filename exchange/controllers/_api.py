"""The JSON API for payroll software, `/api/v1`, with scoped tokens (issue 10)."""

from typing import Any

ROUTES: list[Any] = []
