"""Version of the opspack core."""

__version__ = "0.1.2"
