"""Analysis of stored results: campaign summary, baseline diff, flakiness, performance changes."""
