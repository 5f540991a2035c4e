"""Pure-domain tests: no event loop, no I/O."""
