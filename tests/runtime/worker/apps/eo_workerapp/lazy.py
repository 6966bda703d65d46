"""Imported only inside a function: its source is read when the function first runs."""

VALUE = "lazy-original"
