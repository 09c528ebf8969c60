"""Authentication and authorization: accounts, passwords, TOTP, sessions, step-up, guards."""
