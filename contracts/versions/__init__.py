"""Later versions of contracts, side by side with the code they replace.

A contract's genesis code stays where it is (contracts/<name>.py, pinned in
genesis, listed in contracts/registry.py CONTRACT_MODULES): blocks before an
upgrade replay with it forever. A later version is a new module here,
`<name>_v<version>.py`, whose `CONTRACT` has the same name and the new
version number, listed in contracts/registry.py CONTRACT_UPGRADES; it is
never edited once an upgrade pins its source SHA-256 (docs/upgrades.md).

`demo_board_v1` and `demo_board_v2` are a test fixture, not a product: a
tiny message board whose record layout changes between the versions, with
the migration that converts it (tests/contracts/test_upgrades*.py).
"""
