"""Models of the calculator app."""
