"""Image records. No torch here: the web process imports this module."""
