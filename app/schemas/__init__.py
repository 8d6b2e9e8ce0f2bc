"""Marshmallow schemas: the shapes of queries, bodies and responses."""
