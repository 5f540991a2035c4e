"""HTTP: the REST API (``/api/v1``), health and metrics, and the browser client's pages."""
