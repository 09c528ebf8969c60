"""The vault: number rules, keys, sealing, per-person erasure, blind index. Nothing else touches a key."""
