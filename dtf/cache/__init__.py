"""Per-worker on-disk caches: file locks, LRU-evicted entries, and where they live."""
