"""Account tables (filled in by the accounts issue)."""
