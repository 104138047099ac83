"""The client HTTP API of the node: request handling, limits and responses."""
