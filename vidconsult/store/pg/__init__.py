"""The PostgreSQL store: every store area on one database shared by all nodes (see database.py)."""
