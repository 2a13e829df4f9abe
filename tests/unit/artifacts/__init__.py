"""Tests of the artifact store: the shared contract, path confinement, and the local folder backend."""
