"""The pure core: plain dataclasses, enums and functions. No I/O, no asyncio, no frameworks."""
