"""Coverage-guided fuzzing of everything a peer can make this node decode.

One harness module per entry point, each with `TestOneInput(data: bytes)` and
`seeds()` (valid inputs built in code):

| module | entry point |
|---|---|
| `fuzz_frame` | `node.peers.protocol.decode_frame`, the first decoder of every peer byte |
| `fuzz_handshake` | `Handshake.receive`: a HELLO, or an AUTH after a valid HELLO |
| `fuzz_consensus` | `decode_message`, and a CONSENSUS frame through `PeerMessages` |
| `fuzz_sync` | STATUS, GET_BLOCKS and BLOCKS frames through `PeerMessages` |
| `fuzz_txs` | TXS gossip batches through `PeerMessages` into a real mempool |

A harness asserts only documented outcomes (a decoded value that re-encodes to
the input, or `LedgerError` with a code of the documented set, and for the
peer-message kinds the documented reaction: handled, dropped or the peer
disconnected); anything else is a crash. `run.py` runs them under atheris
(`python -m tests.fuzz.run --help`); `test_harnesses.py` runs them for a bounded
number of inputs under atheris when it is installed and under hypothesis always.
"""
