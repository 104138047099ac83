"""Tendermint consensus as a sans-I/O state machine, and its guarded signer."""
