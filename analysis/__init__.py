"""Rank statistics and figures from the rankings export. Never imports Django or torch."""
