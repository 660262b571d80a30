"""Researcher admin (filled in with the survey models)."""
