"""The HTTP edge: ASGI app, route table, auth and one thin handler module per protocol."""
