"""The web console: server-rendered pages (Jinja2 + htmx) for merchants and operators, at `/`.

It calls the same services as the /v1 routes; its pages are signed in with a server-side
session (an API key once, then an HttpOnly cookie), never with the key itself.
"""
