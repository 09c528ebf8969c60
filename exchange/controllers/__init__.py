"""HTTP layer of the exchange package: export and import pages, jobs, and the JSON API for payroll software."""

from typing import Any

from exchange.controllers._api import ROUTES as API_ROUTES
from exchange.controllers._download import DOWNLOAD_OPT, ClosingStream, content_disposition, download_response
from exchange.controllers._export import ROUTES as EXPORT_ROUTES
from exchange.controllers._import import ROUTES as IMPORT_ROUTES
from exchange.controllers._jobs import ROUTES as JOB_ROUTES
from exchange.controllers._tokens import ApiTokensController

ROUTES: list[Any] = [*EXPORT_ROUTES, *IMPORT_ROUTES, *JOB_ROUTES, *API_ROUTES, ApiTokensController]

__all__ = ["DOWNLOAD_OPT", "ROUTES", "ApiTokensController", "ClosingStream", "content_disposition", "download_response"]
