"""The package version (one place; ``pyproject.toml`` reads it), recorded in every saved model."""

__version__ = "0.1.0"
