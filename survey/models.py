"""Studies, participants, pages and rankings."""
