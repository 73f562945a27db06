"""Gusu network layer."""
