"""Readiness: may this node take traffic? The database answers, its schema is at the
migration head this code expects, and the signing keys are loaded.

Cheap enough for a load balancer's every few seconds: one ``SELECT 1`` (the schema's
revision is read instead until it has once been found current; a schema does not move
back under a running server), and the key ring from memory (reloaded at most every
``keys.cache_ttl``). Nothing is ever created or migrated here.
"""

from __future__ import annotations

import logging

from alembic.script import ScriptDirectory

from ostiary.keys.manager import NoSigningKeyError
from ostiary.services import Services
from ostiary.storage.engine import ping
from ostiary.storage.errors import describe, is_unavailable
from ostiary.storage.migrate import alembic_config, applied_revisions

log = logging.getLogger("ostiary.health")

OK = "ok"


class Readiness:
    def __init__(self) -> None:
        self._heads: frozenset[str] | None = None
        self._schema_current = False

    def heads(self) -> frozenset[str]:
        """The revisions this code's migrations end at (read once per process)."""
        if self._heads is None:
            self._heads = frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())
        return self._heads

    async def check(self, services: Services) -> dict[str, str]:
        """Each check's state: ``ok`` or why not."""
        checks = {"database": OK, "schema": OK, "signing_keys": OK}
        try:
            if self._schema_current:
                await ping(services.engine)
            else:
                checks["schema"] = self._schema(await applied_revisions(services.engine))
        except Exception as exc:
            checks["database"] = "unavailable" if is_unavailable(exc) else "error"
            checks["schema"] = "unknown"
            log.warning("readiness: database %s: %s", checks["database"], describe(exc))
        checks["signing_keys"] = await self._keys(services)
        return checks

    def _schema(self, current: frozenset[str]) -> str:
        heads = self.heads()
        if current == heads:
            self._schema_current = True
            return OK
        if not current:
            return "not migrated"
        if current - heads and not _known(current - heads):
            # A newer release migrated this database: this code does not know its schema.
            return "ahead of this release"
        return "behind (run ostiary db upgrade)"

    async def _keys(self, services: Services) -> str:
        try:
            keys = await services.keys.fresh()
            for alg in sorted(services.signing_algs()):
                keys.signing_key(alg)
        except NoSigningKeyError:
            return "missing"
        except Exception as exc:
            log.warning("readiness: signing keys not loaded: %s", describe(exc))
            return "unknown"
        return OK


def _known(revisions: frozenset[str]) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    try:
        return all(script.get_revision(r) is not None for r in revisions)
    except Exception:
        return False
