"""Route tables and handlers, one module per deployable function; ``functions/`` mounts them."""

API = "/api/v1"
