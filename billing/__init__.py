"""Billing: plans, 5-user packs, trials, invoices (later issue)."""
