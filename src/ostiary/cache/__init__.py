"""Per-node caches of database rows, invalidated across nodes (DESIGN.md, scaling model)."""
