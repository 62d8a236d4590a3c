"""The HTTP scoring service: FastAPI app factory, settings, API keys (composition root)."""

from riskline.serving.app import create_app, serve
from riskline.serving.auth import GRANTS, ROLES, ApiKey, KeyRing, Role, hash_key
from riskline.serving.settings import ServeSettings
from riskline.serving.status import STATUS

__all__ = [
    "GRANTS",
    "ROLES",
    "STATUS",
    "ApiKey",
    "KeyRing",
    "Role",
    "ServeSettings",
    "create_app",
    "hash_key",
    "serve",
]
