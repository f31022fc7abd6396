"""A verified access token's claims, as the kit hands them to an app."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ostiary.resource.dpop import DPoPProof
from ostiary.resource.errors import InsufficientScope


def _names(value: Any) -> frozenset[str]:
    """RFC 9068 §2.2.3.1 roles/groups: strings, or RFC 7643 multi-valued {"value": ...}."""
    if isinstance(value, str):
        return frozenset(value.split())
    if not isinstance(value, list):
        return frozenset()
    names = [item.get("value") if isinstance(item, dict) else item for item in value]
    return frozenset(name for name in names if isinstance(name, str))


@dataclass(frozen=True)
class Claims(Mapping[str, Any]):
    """A verified access token: the common claims typed, every claim in ``raw``.

    ``dpop`` is the checked proof when the token came with the DPoP scheme (RFC 9449 §7):
    the request was signed by the key the token is bound to (``dpop.jkt == jkt``)."""

    sub: str | None
    client_id: str | None
    scopes: frozenset[str]
    roles: frozenset[str]
    groups: frozenset[str]
    raw: Mapping[str, Any] = field(repr=False)
    source: str = "jwt"  # "jwt" (checked locally) or "introspection"
    dpop: DPoPProof | None = None

    @classmethod
    def of(cls, raw: Mapping[str, Any], source: str) -> Claims:
        scope = raw.get("scope")
        return cls(
            sub=raw.get("sub") if isinstance(raw.get("sub"), str) else None,
            client_id=raw.get("client_id") if isinstance(raw.get("client_id"), str) else None,
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            roles=_names(raw.get("roles")),
            groups=_names(raw.get("groups")),
            raw=raw,
            source=source,
        )

    def with_proof(self, proof: DPoPProof) -> Claims:
        """These claims, presented with ``proof`` (the constructor: ``replace`` is slower)."""
        return Claims(
            self.sub,
            self.client_id,
            self.scopes,
            self.roles,
            self.groups,
            self.raw,
            self.source,
            proof,
        )

    @property
    def confirmation(self) -> Mapping[str, Any] | None:
        """The token's ``cnf`` claim (RFC 7800 §3.1), if it has one: it is sender-bound."""
        cnf = self.raw.get("cnf")
        return cnf if isinstance(cnf, Mapping) else {} if cnf is not None else None

    @property
    def jkt(self) -> str | None:
        """The JWK SHA-256 thumbprint the token is bound to (RFC 9449 §6), or None."""
        cnf = self.confirmation
        jkt = cnf.get("jkt") if cnf is not None else None
        return jkt if isinstance(jkt, str) else None

    @property
    def x5t_s256(self) -> str | None:
        """The thumbprint of the client certificate the token is bound to (RFC 8705 §3.1)."""
        cnf = self.confirmation
        x5t = cnf.get("x5t#S256") if cnf is not None else None
        return x5t if isinstance(x5t, str) else None

    @property
    def scheme(self) -> str:
        """How the token was presented: "dpop" (with its proof checked) or "bearer"."""
        return "dpop" if self.dpop is not None else "bearer"

    def require(self, scopes: Iterable[str] = (), roles: Iterable[str] = ()) -> None:
        """RFC 6750 §3.1: a valid token without every scope (then role) is refused with
        insufficient_scope, in the challenge of the scheme it came with."""
        needed = tuple(scopes)
        if not self.scopes.issuperset(needed):
            raise InsufficientScope(needed).presented(self.scheme)
        if not self.roles.issuperset(roles):
            # RFC 6750 has no code for roles; insufficient_scope is the nearest (403).
            refusal = InsufficientScope((), "the token lacks the required role")
            raise refusal.presented(self.scheme)

    def __getitem__(self, name: str) -> Any:
        return self.raw[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)
