"""Shipped scenario files (YAML)."""
