"""Plugins found by name at run time (importlib.import_module), never imported statically."""
