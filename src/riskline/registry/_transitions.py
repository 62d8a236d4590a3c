"""Stage rules: which moves a caller may request, four eyes, and the rollback target.

Requested moves: candidate -> shadow, candidate | shadow -> champion, candidate | shadow ->
retired. A champion leaves only when another version is promoted or on rollback; a retired
version returns only as champion through rollback. Staging a new shadow moves the old shadow
back to candidate (it can be staged again later); it is not retired.
"""

from __future__ import annotations

from collections.abc import Iterable

from riskline.errors import PromotionError
from riskline.registry._values import NAME_LENGTH, AuditEvent, ModelVersion, Stage

_REQUESTABLE: dict[Stage, tuple[Stage, ...]] = {
    "shadow": ("candidate",),
    "champion": ("candidate", "shadow"),
    "retired": ("candidate", "shadow"),
}


def check_move(current: ModelVersion, to: Stage) -> None:
    """Raise PromotionError unless a caller may move ``current`` to stage ``to``."""
    version, kind, stage = current.version, current.kind, current.stage
    if stage == to:
        raise PromotionError(f"{version!r} is already {to}.")
    if stage in _REQUESTABLE.get(to, ()):
        return
    if stage == "champion":
        raise PromotionError(
            f"Cannot move champion {version!r} to {to}; a champion leaves only when another "
            f"{kind!r} version is promoted or through rollback({kind!r})."
        )
    if stage == "retired":
        raise PromotionError(
            f"Cannot move retired {version!r} to {to}; a retired version returns only as "
            f"champion through rollback({kind!r})."
        )
    allowed = ", ".join(_REQUESTABLE.get(to, ()))
    raise PromotionError(
        f"Cannot move {version!r} from {stage} to {to}; allowed from: {allowed or 'none'}."
    )


def check_four_eyes(current: ModelVersion, approver: str) -> None:
    """Raise PromotionError when the approver is the person who trained the version."""
    if approver.casefold() == current.trained_by.casefold():
        raise PromotionError(
            f"{approver!r} trained {current.version!r} and cannot also approve it; "
            f"promotion needs a second person (four eyes)."
        )


def check_text(name: str, value: str, limit: int | None = None) -> str:
    """Return ``value`` stripped; raise PromotionError when it is blank, or longer than
    ``limit`` characters."""
    if not value.strip():
        raise PromotionError(f"{name} must be a non-empty string, got {value!r}.")
    value = value.strip()
    if limit is not None and len(value) > limit:
        raise PromotionError(f"{name} must be at most {limit} characters, got {len(value)}.")
    return value


def check_name(name: str, value: str) -> str:
    """A person's name (an actor, an approver): ``check_text`` within the column's width."""
    return check_text(name, value, NAME_LENGTH)


def previous_champion(events: Iterable[AuditEvent]) -> str | None:
    """Return the version rollback restores, replaying one kind's events in order.

    Each promotion to champion pushes a version; each rollback (retired -> champion) pops
    the current one. The target is the entry below the top, so repeated rollbacks walk back
    through earlier champions instead of toggling between two.
    """
    reigns: list[str] = []
    for event in events:
        if event.to_stage != "champion":
            continue
        if event.from_stage == "retired":
            reigns.pop()
        else:
            reigns.append(event.version)
    return reigns[-2] if len(reigns) >= 2 else None
