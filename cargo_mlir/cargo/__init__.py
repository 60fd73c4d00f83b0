"""Talking to cargo: its arguments, its metadata, the rustc wrapper and what it records."""
