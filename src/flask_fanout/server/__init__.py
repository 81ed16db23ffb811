"""The runtime of ``fanout serve``: CLI, gunicorn config and hooks, the worker, logs, metrics dir.

Only the server needs these; an app using ``Fanout(app)`` under its own server does not.
Arrows point one way: server -> service -> extension.
"""
