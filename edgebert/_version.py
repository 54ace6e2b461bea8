"""The package version, in a leaf module: bundle, bench and report stamp it into documents without importing the
package root (which imports them back, lazily, for the public API). pyproject.toml reads it from here."""

__version__ = "0.1.0"
