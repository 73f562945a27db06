"""Gusu apps layer."""
