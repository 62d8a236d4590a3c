"""API keys with roles, stored as SHA-256 hashes (never the keys themselves).

Roles: ``scorer`` may score and send labels; ``analyst`` may read decisions; ``admin`` may do
everything (including metrics and reloading models).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import orjson

from riskline.errors import AuthenticationError, ConfigError, PermissionDeniedError

Role = Literal["scorer", "analyst", "admin"]
Permission = Literal["score", "label", "read", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
GRANTS: Mapping[Role, frozenset[Permission]] = {
    "scorer": frozenset({"score", "label"}),
    "analyst": frozenset({"read"}),
    "admin": frozenset({"score", "label", "read", "admin"}),
}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_JSON_TYPES[type(None)] = "null"


def hash_key(key: str) -> str:
    """The stored form of an API key: lowercase SHA-256 hex of its UTF-8 bytes.

    Examples:
        >>> hash_key("secret")[:12]
        '2bb80d537b1d'
    """
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One configured key: a ``name`` for logs, its ``role`` and the SHA-256 of the key."""

    name: str
    role: Role
    sha256: str

    def __post_init__(self) -> None:
        for name in ("name", "role", "sha256"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ConfigError(f"API key {name} must be a string, got {value!r}.")
        if not self.name.strip():
            raise ConfigError("API key name must be non-empty; it names the caller in logs.")
        if self.role not in ROLES:
            raise ConfigError(
                f"API key {self.name!r}: role must be one of {', '.join(ROLES)}, got {self.role!r}."
            )
        if not _HEX64.fullmatch(self.sha256):
            raise ConfigError(
                f"API key {self.name!r}: sha256 must be 64 lowercase hex characters "
                "(the hash of the key, see riskline.serving.hash_key), not the key itself."
            )


class KeyRing:
    """Looks a presented key up by its hash and checks its role's permissions."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        """Raises ``ConfigError`` for no keys (no caller could use the service) or two entries
        of one key (one hash, so one key: it would silently get the last entry's role)."""
        self._by_hash: dict[str, ApiKey] = {}
        for key in keys:
            other = self._by_hash.setdefault(key.sha256, key)
            if other is not key:
                raise ConfigError(
                    f"API keys {other.name!r} and {key.name!r} have the same sha256: they are "
                    "one key, which would get only the last entry's role; give each caller a "
                    "key of its own."
                )
        if not self._by_hash:
            raise ConfigError("no API keys configured; the service would refuse every caller.")

    def __len__(self) -> int:
        return len(self._by_hash)

    def check(self, presented: str | None, need: Permission) -> ApiKey:
        """The key's entry if it may ``need``; raises ``AuthenticationError`` (no or unknown
        key) or ``PermissionDeniedError`` (known key, role lacks the permission)."""
        if not presented:
            raise AuthenticationError("missing API key; send it in the X-API-Key header.")
        key = self._by_hash.get(hash_key(presented))
        if key is None:
            raise AuthenticationError("unknown API key.")
        if need not in GRANTS[key.role]:
            raise PermissionDeniedError(
                f"API key {key.name!r} has role {key.role!r}, which may not {need!r}; "
                f"roles that may: {', '.join(r for r in ROLES if need in GRANTS[r])}."
            )
        return key

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """Read ``{"keys": [{"name": .., "role": .., "sha256": ..}, ...]}`` (JSON)."""
        shape = '{"keys": [{"name": ..., "role": ..., "sha256": ...}]}'
        try:
            raw = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(
                f"API key file {str(path)!r} must be JSON {shape}: {type(exc).__name__}: {exc}."
            ) from exc
        entries = raw.get("keys") if isinstance(raw, dict) else None
        if not isinstance(entries, list):
            raise ConfigError(f"API key file {str(path)!r} must be JSON {shape}.")
        if not entries:
            raise ConfigError(f"API key file {str(path)!r} lists no keys: {shape}.")
        keys = []
        for i, entry in enumerate(entries):
            where = f"API key file {str(path)!r}: keys[{i}]"
            if not isinstance(entry, dict):
                raise ConfigError(
                    f"{where} must be an object with name, role and sha256, "
                    f"got a JSON {_JSON_TYPES.get(type(entry), 'value')}."
                )
            for name in ("name", "role", "sha256"):
                if not isinstance(entry.get(name), str):
                    got = repr(entry[name]) if name in entry else "nothing"
                    raise ConfigError(f"{where}.{name} must be a string, got {got}.")
            try:
                keys.append(ApiKey(entry["name"], entry["role"], entry["sha256"]))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        return cls(keys)

    @classmethod
    def from_spec(cls, spec: str) -> KeyRing:
        """Read ``name:role:sha256`` entries separated by ``,`` (an environment variable)."""
        keys = []
        for entry in filter(None, (e.strip() for e in spec.split(","))):
            parts = entry.split(":")
            if len(parts) != 3:
                raise ConfigError(
                    f"API key entry {entry.split(':')[0]!r}... must be name:role:sha256."
                )
            keys.append(ApiKey(parts[0], parts[1], parts[2]))  # type: ignore[arg-type]
        if not keys:
            raise ConfigError(f"no API key entries in {spec!r}; give name:role:sha256,...")
        return cls(keys)
