"""alpr-stream: real-time Automated License Plate Reader analytics engine."""

__version__ = "0.1.0"
