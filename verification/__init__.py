"""Identity verification: ID-document photos, image pipeline, review (later issue)."""
