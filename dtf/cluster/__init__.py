"""The Dask fleet: a local scheduler and hardware-tagged workers that dtf starts and stops."""
