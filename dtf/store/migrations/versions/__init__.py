"""Alembic revisions of the results store, oldest first; each keeps to create/drop table/index."""
