"""Gusu api layer."""
