"""Socket.IO signaling: authenticates participants and brokers their WebRTC sessions.
Thin: each handler validates a message, calls the room service and returns its result."""
