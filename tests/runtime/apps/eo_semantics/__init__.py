"""An application for the tests of what offloaded code prints, changes and raises."""
