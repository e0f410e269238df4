"""Measurement code, kept apart from the architectures under test and from the load generator."""
