"""Billing (issue 13): price list, id usage, contracts and trials, monthly invoices, invoice PDFs (seed 003)."""
