"""aiortc-based media engine (implements :class:`vidconsult.ports.MediaEngine`)."""

from media.compat import MediaCompatibilityError
from media.config import MediaConfig
from media.engine import AiortcMediaEngine
from media.forwarding import Forwarder, ForwarderStats, PublisherSource

__all__ = [
    "AiortcMediaEngine",
    "Forwarder",
    "ForwarderStats",
    "MediaCompatibilityError",
    "MediaConfig",
    "PublisherSource",
]
