"""Content-addressed artefact files: ``<artifacts_dir>/<sha[:2]>/<sha256>``.

Artefacts are opaque bytes; the registry never reads a model format. Files are written to a
temporary name and renamed, so a reader never sees a half-written artefact.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from riskline.errors import ArtifactIntegrityError


def digest(data: bytes) -> str:
    """Return the lowercase SHA-256 hex digest of ``data``.

    Examples:
        >>> digest(b"")[:12]
        'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


def path_of(artifacts_dir: Path, sha256: str) -> Path:
    """Return where the artefact with this hash lives."""
    return artifacts_dir / sha256[:2] / sha256


def write(artifacts_dir: Path, data: bytes) -> str:
    """Store ``data`` under its SHA-256 (idempotent; repairs a damaged copy) and return the hash."""
    sha256 = digest(data)
    path = path_of(artifacts_dir, sha256)
    if path.is_file() and digest(path.read_bytes()) == sha256:
        return sha256
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256


def read(artifacts_dir: Path, version: str, sha256: str) -> bytes:
    """Return the artefact bytes of ``version`` after checking them against ``sha256``.

    Raises ArtifactIntegrityError when the file is missing or its bytes hash differently.
    """
    path = path_of(artifacts_dir, sha256)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(
            f"Artefact of {version!r} is missing: expected {str(path)!r} with sha256 {sha256}. "
            f"Restore the file or re-register the model."
        ) from None
    actual = digest(data)
    if actual != sha256:
        raise ArtifactIntegrityError(
            f"Refusing to load {version!r}: artefact {str(path)!r} has sha256 {actual}, "
            f"but the registry recorded {sha256}. The file was modified or damaged."
        )
    return data
