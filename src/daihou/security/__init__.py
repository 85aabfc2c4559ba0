"""Security: who may do what to which data, and a record of what they did.

- `roles`: the roles of DESIGN.md §1 as data (`roles.toml`): permissions and data scopes.
- `principal`: `Principal`, the authenticated user or system a request acts for.
- `passwords`: argon2id hashing.
- `sessions`: `login`, `logout`, `resolve_session` (server-side sessions, CSRF token, rate limiting).
- `tokens`: API tokens for systems (hashed, scoped to a role).
- `users`: add users, change passwords, list users.
- `audit`: the append-only audit log (`record`), written for every write.
- `masking`: personal-data masks and `reveal(...)`, a permissioned and audited act.
- `wiring`: the one place that builds the SQL store for an `App` (drivers never import storage).
"""
