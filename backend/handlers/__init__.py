"""One module per API route, each exposing the Lambda entry point `handler(event, context)`.

Each route module also exposes `handle(request, services)`, which the local gateway calls
in-process with an explicit `Services` (see `backend.runtime`).
"""
