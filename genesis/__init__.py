"""Genesis documents and their loader."""
