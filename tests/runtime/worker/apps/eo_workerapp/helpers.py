"""A module two owners ship in different versions (the isolation tests edit ``IDENT``)."""

IDENT = "original"
