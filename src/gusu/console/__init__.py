"""Gusu console layer."""
