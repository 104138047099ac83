"""The I/O shell around the pure core.

`node/consensus/` decides; this package touches the disk, the network and
the clock on its behalf. What lives here is what must survive a crash: the
guarded signer's last-signed record (`sign_store`) and the consensus
write-ahead log (`wal`). Every failure is a `LedgerError` with a stable code
and a message that names the file at fault.
"""
