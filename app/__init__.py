"""moorage: an async REST + Server-Sent Events API for the Docker Engine."""

__version__ = "0.1.0"
