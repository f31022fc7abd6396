"""The ``ostiary`` command line (see shared/DESIGN.md for the contract)."""
