"""Gusu node layer."""
