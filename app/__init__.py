"""MyNumber Vault core: app factory, settings, database, auth, vault, operation log, CLI."""

__version__ = "0.1.0"
