"""Gusu eval layer: measuring the platform (`gusu.eval.bench` drives `gusu bench`)."""
