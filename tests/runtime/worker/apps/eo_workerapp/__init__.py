"""A small application the executor tests ship to child processes as a bundle."""
