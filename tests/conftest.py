"""Shared fixtures; the project root is importable so tests see `engine` and `app`."""
