"""HTTP layer of the tenants package: operator console, admin home, accounts, settings."""

from typing import Any

from tenants.controllers._home import AdminHomeController
from tenants.controllers._numbers import CorrectionsController, NumbersController
from tenants.controllers._operator import OperatorController
from tenants.controllers._people import DepartmentController, EmployeeController, PayeeController
from tenants.controllers._staff import StaffController, TenantSettingsController

ROUTES: list[Any] = [
    OperatorController,
    AdminHomeController,
    NumbersController,
    CorrectionsController,
    StaffController,
    TenantSettingsController,
    DepartmentController,
    EmployeeController,
    PayeeController,
]
