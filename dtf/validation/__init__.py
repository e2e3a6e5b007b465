"""The validation gate: a campaign's expectations, checked with Great Expectations."""
