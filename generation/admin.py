"""Admin for image records (filled in with the records)."""
