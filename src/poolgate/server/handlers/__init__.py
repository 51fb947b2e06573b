"""Route handlers: read, convert, execute, encode; one module per protocol."""
