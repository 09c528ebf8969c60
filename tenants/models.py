"""Tenant-owned tables of the tenants package; the tenant row itself is core (app.tenancy)."""

from __future__ import annotations

from app.tenancy import Tenant, TenantKind, TenantStatus

__all__ = ["Tenant", "TenantKind", "TenantStatus"]
