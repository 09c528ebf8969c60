"""Vault tables in the main database (filled in by the vault issue)."""
