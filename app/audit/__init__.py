"""The operation log (操作履歴): append-only, hash-chained per tenant, written in the caller's transaction."""
