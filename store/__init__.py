"""Persistence: tables, engine and sessions, shared queries, migrations."""
