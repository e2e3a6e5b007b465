"""Shard execution: a pytest subprocess per shard, streamed events, kills and crash attribution."""
