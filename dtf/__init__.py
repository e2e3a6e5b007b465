"""dtf: distributed test campaigns on Prefect flows, Dask workers and a SQL results store."""

__version__ = "0.1.0"
