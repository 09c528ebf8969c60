"""Operation-log tables (filled in by the audit issue)."""
