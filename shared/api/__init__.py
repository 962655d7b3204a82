"""Route tables and handlers, one module per deployable function; ``functions/`` exposes them.

A handler reads the parsed ``Call``, calls one use case from ``wiring.services()``, and turns
the domain result into a pydantic answer (``shared.api.views``). It never touches a store or a
provider (``tests/unit/test_layers.py`` walks the imports to keep it so).
"""

API_PREFIX = "/api/v1"

# Every function imports this package first: refuse to start with the Auth emulator's variable set in
# production (firebase-admin would then accept unsigned tokens). See shared/firebase.py.
from shared.firebase import refuse_emulator_in_production  # noqa: E402

refuse_emulator_in_production()
