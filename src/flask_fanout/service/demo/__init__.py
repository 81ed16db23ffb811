"""The embedded defaults: a sample file, a SQLite database and a local upstream API."""
