"""HTTP layer of the tenants package: operator console, admin home, numbers, people, accounts, settings."""

from typing import Any

from tenants.controllers._deletions import DeletionsController, RetentionSettingsController
from tenants.controllers._departments import DepartmentController
from tenants.controllers._dependants import DependantController
from tenants.controllers._duplicates import DuplicatesController
from tenants.controllers._employees import EmployeeController
from tenants.controllers._erasure import ErasureController
from tenants.controllers._filings import FilingController
from tenants.controllers._forms import FormsLibraryController
from tenants.controllers._home import AdminHomeController
from tenants.controllers._log import OperationLogController
from tenants.controllers._numbers import CorrectionsController, NumbersController
from tenants.controllers._operator import OperatorController
from tenants.controllers._payees import PayeeController
from tenants.controllers._staff import StaffController, TenantSettingsController

ROUTES: list[Any] = [
    OperatorController,
    AdminHomeController,
    NumbersController,
    CorrectionsController,
    DuplicatesController,
    StaffController,
    TenantSettingsController,
    DepartmentController,
    EmployeeController,
    DependantController,
    PayeeController,
    OperationLogController,
    DeletionsController,
    RetentionSettingsController,
    ErasureController,
    FilingController,
    FormsLibraryController,
]
