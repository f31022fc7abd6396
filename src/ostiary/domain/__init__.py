"""Plain rules and types with no storage or web imports: every door uses the same ones."""
