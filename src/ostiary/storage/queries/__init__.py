"""Reads and bulk writes that belong to no one repository (a page's view joins several
tables): each module is named for what it reads, and callers reach it through ``Store``."""
