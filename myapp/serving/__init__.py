"""Production machinery in front of Django: the ASGI application Uvicorn runs, its
connection bounds, static files, health checks, and media while developing."""
