"""The same application ported to Rampart: ``python -m rampart worker rampart_app.tasks:worker``."""
