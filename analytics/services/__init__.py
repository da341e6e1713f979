"""Writes and workflows of the analytics app: history loading, indicators, signals."""
