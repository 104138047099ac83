"""A node's configuration: `HOME/config.json`, strict, with sensible defaults.

Every field but `member_id` has a default, so `scf node init` writes a short
file an operator can read. Unknown fields are refused (a typo must not
silently become a default), and each refusal names the field
(CONFIG_INVALID). Paths are relative to the home directory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ledger.errors import Code, LedgerError

FORMAT = "scf-node/1"
CONFIG_FILE = "config.json"


@dataclass(frozen=True, slots=True)
class ApiConfig:
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 1_000
    rate_per_s: int = 200
    burst: int = 400
    max_streams: int = 64
    max_wait_s: int = 60
    page_size: int = 100


@dataclass(frozen=True, slots=True)
class MempoolConfig:
    max_count: int = 20_000
    max_bytes: int = 64 * 1024 * 1024
    nonce_window: int = 256


@dataclass(frozen=True, slots=True)
class NodeConfig:
    member_id: str
    validator: bool = True
    host: str = "127.0.0.1"
    port: int = 26600
    peers: tuple[str, ...] = ()
    genesis_file: str = "genesis.json"
    member_key_file: str = "keys/member.json"
    validator_key_file: str = "keys/validator.json"
    data_dir: str = "data"
    keep_versions: int | None = None
    gossip_interval_ms: int = 50
    status_interval_ms: int = 1_000
    #: after a commit, how long before the next height starts with an empty
    #: mempool (an idle chain makes one empty block per interval) ...
    empty_block_interval_ms: int = 1_000
    #: ... and with transactions waiting
    min_block_interval_ms: int = 0
    api: ApiConfig = field(default_factory=ApiConfig)
    mempool: MempoolConfig = field(default_factory=MempoolConfig)

    def to_json(self) -> str:
        document = {"format": FORMAT, **asdict(self)}
        document["peers"] = list(self.peers)
        return json.dumps(document, indent=2) + "\n"


def load_config(home: Path) -> NodeConfig:
    path = home / CONFIG_FILE
    if not path.is_file():
        raise LedgerError(Code.HOME_NOT_INITIALISED,
                          f"{home} has no {CONFIG_FILE}: run `scf node init --home {home}` first")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _invalid(str(path), f"not readable JSON ({error})") from None
    return parse_config(document)


def parse_config(document: Any) -> NodeConfig:
    if not isinstance(document, dict):
        raise _invalid("config", "a JSON object")
    document = dict(document)
    if document.pop("format", None) != FORMAT:
        raise _invalid("format", f'"{FORMAT}"')
    api = _section(ApiConfig, document.pop("api", {}), "api")
    mempool = _section(MempoolConfig, document.pop("mempool", {}), "mempool")
    if "peers" in document:
        peers = document["peers"]
        if not isinstance(peers, list) or not all(isinstance(p, str) and
                                                 p.startswith(("ws://", "wss://"))
                                                 for p in peers):
            raise _invalid("peers", "a list of ws:// or wss:// URLs")
        document["peers"] = tuple(peers)
    config = _section(NodeConfig, document, "", api=api, mempool=mempool)
    if not config.member_id:
        raise _invalid("member_id", "a member id of the consortium")
    if not 0 <= config.port <= 65_535:
        raise _invalid("port", "a TCP port (0 to 65535)")
    if not 1 <= config.api.page_size <= 1000:
        raise _invalid("api.page_size", "from 1 to 1000")
    if config.keep_versions is not None and config.keep_versions < 1:
        raise _invalid("keep_versions", "null (keep all) or at least 1")
    return config


def _section(kind: type, values: Any, where: str, **given: Any) -> Any:
    if not isinstance(values, dict):
        raise _invalid(where or "config", "a JSON object")
    known = {f.name: f for f in fields(kind)}
    for name in values:
        if name not in known or name in given:
            raise _invalid(_path(where, name), "not a known field")
    for name, value in values.items():
        expected = known[name].type
        if not _matches(value, str(expected)):
            raise _invalid(_path(where, name), f"of type {expected}")
    try:
        return kind(**values, **given)
    except TypeError as error:
        raise _invalid(where or "config", str(error)) from None


def _matches(value: Any, annotation: str) -> bool:
    if annotation == "int":
        return type(value) is int and value >= 0
    if annotation == "int | None":
        return value is None or (type(value) is int and value >= 0)
    if annotation == "bool":
        return type(value) is bool
    if annotation == "str":
        return isinstance(value, str)
    return True  # tuples are checked by the caller


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _invalid(where: str, expected: str) -> LedgerError:
    return LedgerError(Code.CONFIG_INVALID, f"config {where}: must be {expected}")
