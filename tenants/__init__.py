"""Tenants: operator console, tenant companies, seats, departments, people, number management."""
