"""Campaign environments: cached virtual environments per worker and each shard's clean room."""
