"""The store: engine and sessions, migrations, the local cluster, the models."""
