"""The `scf` command line."""
