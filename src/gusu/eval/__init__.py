"""Gusu eval layer."""
