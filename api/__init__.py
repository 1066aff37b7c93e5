"""HTTP: routes, wire formats, auth and error mapping."""
