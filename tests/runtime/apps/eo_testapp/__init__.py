"""A small application used by the runtime tests: shipped to workers as a bundle."""
