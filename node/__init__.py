"""The async node shell: the only place with network and disk I/O."""
