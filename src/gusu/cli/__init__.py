"""Gusu cli layer."""
