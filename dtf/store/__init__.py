"""Results store: one SQLAlchemy Core schema on DuckDB or PostgreSQL."""
