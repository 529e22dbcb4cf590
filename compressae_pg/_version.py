"""The package's version, on the ground floor: the package and the model files it exports both name it."""

__version__ = "0.1.0"
