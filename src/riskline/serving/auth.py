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
        self._by_hash = {k.sha256: k for k in keys}

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
        try:
            raw = orjson.loads(path.read_bytes())
            entries = raw["keys"]
            return cls(ApiKey(e["name"], e["role"], e["sha256"]) for e in entries)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"API key file {str(path)!r} must be JSON "
                '{"keys": [{"name": ..., "role": ..., "sha256": ...}]}: '
                f"{type(exc).__name__}: {exc}."
            ) from exc

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
        return cls(keys)
