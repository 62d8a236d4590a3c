"""The models being served: the champion (and an optional shadow) loaded from the registry."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from riskline.decisions import Loader, ModelRunner, Scorer, Thresholds
from riskline.registry import ModelVersion, Registry

_log = logging.getLogger("riskline.serving")

NO_MODEL_THRESHOLDS = Thresholds(1.0, 1.0)
"""Logged with decisions made while no champion exists (the rules decide them all)."""


@dataclass(frozen=True, slots=True)
class Champion:
    """A loaded version, its decision bands and its runner; ``shadow`` is scored beside it."""

    version: str | None
    thresholds: Thresholds
    runner: ModelRunner
    shadow: Champion | None = None


class Models:
    """Holds the current champion; ``reload`` swaps it atomically when the registry changed."""

    def __init__(self, registry: Registry, loader: Loader, kind: str, workers: int = 2) -> None:
        self._registry = registry
        self._loader = loader
        self._kind = kind
        self._workers = workers
        self._lock = threading.Lock()
        self.champion = Champion(None, NO_MODEL_THRESHOLDS, ModelRunner(None))

    def _load(self, version: ModelVersion, workers: int) -> Champion:
        scorer: Scorer = self._loader(self._registry.load_artifact(version.version))
        return Champion(
            version.version,
            Thresholds.from_policy(version.decision_policy),
            ModelRunner(scorer, workers=workers, max_in_flight=4 * workers + 4),
        )

    def reload(self) -> Champion:
        """Load the registry's champion and shadow if they changed; return what is served."""
        with self._lock:
            old = self.champion
            want = self._registry.champion(self._kind)
            want_shadow = self._registry.shadow(self._kind)
            main = old
            if (want.version if want else None) != old.version:
                main = (
                    self._load(want, self._workers)
                    if want
                    else Champion(None, NO_MODEL_THRESHOLDS, ModelRunner(None))
                )
            shadow = old.shadow if main is old else None
            if (want_shadow.version if want_shadow else None) != (
                shadow.version if shadow else None
            ):
                shadow = self._load(want_shadow, 1) if want_shadow else None
            new = Champion(main.version, main.thresholds, main.runner, shadow)
            self.champion = new
            if old.runner is not new.runner:
                old.runner.close()
            if old.shadow is not None and old.shadow is not new.shadow:
                old.shadow.runner.close()
            _log.info(
                "serving champion %s, shadow %s", new.version, shadow.version if shadow else None
            )
            return new

    def close(self) -> None:
        self.champion.runner.close()
        if self.champion.shadow is not None:
            self.champion.shadow.runner.close()
