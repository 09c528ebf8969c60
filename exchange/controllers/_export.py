"""Export pages: layouts, encodings, step-up and purpose (issue 10)."""

from typing import Any

ROUTES: list[Any] = []
