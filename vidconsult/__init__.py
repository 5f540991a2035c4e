"""vidconsult: a server for video medical consultations."""

__version__ = "0.1.0"
