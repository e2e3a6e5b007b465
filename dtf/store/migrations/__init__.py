"""Alembic migrations of the results store; dtf.store.migrate runs them, never import env."""
