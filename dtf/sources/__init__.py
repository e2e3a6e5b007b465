"""Campaign sources: a local path, or a git URL and ref pinned to a SHA and cached per worker."""
