"""Helpers the tests import: tables (the one table builder), models, and the independent numpy truth."""
