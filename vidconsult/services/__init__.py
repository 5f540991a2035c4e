"""Services: the use cases. They drive the pure core, the store and the ports."""
