"""What the SQL and in-memory repositories share: the public method that turns a call into
the domain value, leaving each only the storing of it (``_store``)."""
