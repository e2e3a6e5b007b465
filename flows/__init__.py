"""Prefect flows: the campaign and its subflows."""
