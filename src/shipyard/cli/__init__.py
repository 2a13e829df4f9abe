"""The ``shipyard`` command line."""
