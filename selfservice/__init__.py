"""Self-service: employees and payees registering their own numbers on a phone."""
