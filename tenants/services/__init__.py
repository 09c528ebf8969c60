"""Rules of the tenants package (no HTTP here): organisations, staff accounts, and later people and numbers."""

from tenants.services._organisations import (
    STATUS_CHOICES,
    create_first_admin,
    create_tenant,
    get_tenant,
    list_tenants,
    set_tenant_status,
    update_tenant,
)
from tenants.services._staff import (
    STAFF_ROLES,
    add_staff,
    disable_staff,
    enable_staff,
    get_staff,
    list_staff,
    reset_staff_password,
    staff_seats,
    update_tenant_settings,
)

__all__ = [
    "STAFF_ROLES",
    "STATUS_CHOICES",
    "add_staff",
    "create_first_admin",
    "create_tenant",
    "disable_staff",
    "enable_staff",
    "get_staff",
    "get_tenant",
    "list_staff",
    "list_tenants",
    "reset_staff_password",
    "set_tenant_status",
    "staff_seats",
    "update_tenant",
    "update_tenant_settings",
]
