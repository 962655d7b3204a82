"""Use cases: what the HTTP functions call, and the only thing they call.

One module per use case (jobs, text, media, health; admission is ``shared.ratelimit.limiter``).
A service takes its stores, providers and clock in its constructor (``shared.wiring`` builds
it once per instance), raises ``shared.errors.AppError`` for what the caller must be told, and
returns domain objects (``shared.domain``) that ``shared.api`` turns into pydantic answers.
A new function (auth, user, admin, payments, cleanup) adds a service here and a route table in
``shared/api``.
"""
