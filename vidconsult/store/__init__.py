"""Storage: one interface (:mod:`vidconsult.store.base`), an embedded SQLite implementation and
a Redis one, chosen at wiring time."""
