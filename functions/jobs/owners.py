"""Who owns a job (design section 8): the caller a request acts for, from what API Gateway
verified, and the owner of a job the tracker learns of from its client name.

* IAM (SigV4): ``requestContext.identity.userArn``. An assumed-role session counts as its role:
  ``arn:aws:sts::111122223333:assumed-role/Uploader/i-0abc`` is the owner
  ``arn:aws:iam::111122223333:role/Uploader`` (STS ARNs do not carry a role's path, so owners
  never do: ``role/service/Uploader`` in the configuration means the same role).
* JWT (the stack's TOKEN authorizer) and Cognito user pools: one configured claim, ``sub``,
  ``client_id`` or ``azp``, read from ``requestContext.authorizer`` (the authorizer's context) or
  ``requestContext.authorizer.claims`` (Cognito's).

Pure: no AWS, no Powertools; the API passes the event's ``requestContext``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

OwnerClaim = Literal["sub", "client_id", "azp"]
MAX_OWNER_LENGTH = 512  # an IAM ARN's limit is 2048, a role name's 64; longer is not an identity
_ASSUMED_ROLE = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sts::(?P<account>[0-9]{12}):assumed-role/(?P<role>[^/]+)/.+"
)
_ROLE = re.compile(r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>[0-9]{12}):role/(?:.*/)?(?P<role>[^/]+)")


class Unidentified(Exception):
    """The request carries no identity the stack can own jobs by (an API without authorization,
    or an authorizer that does not pass the configured claim): a misconfiguration, never a guess."""


def canonical_owner(principal: str) -> str:
    """The owner a principal's jobs belong to: an assumed-role session and a role (whatever its
    path) become ``arn:<partition>:iam::<account>:role/<name>``; anything else is kept as is."""
    for pattern in (_ASSUMED_ROLE, _ROLE):
        match = pattern.fullmatch(principal)
        if match:
            return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"
    return principal


@dataclass(frozen=True)
class OwnerPolicy:
    """How callers become owners. ``client_names`` gives an owner the client name its
    ``START_JOB`` carries (``data.client.name``, as the PHP SDK sends per client); owners not
    listed use ``default_client_name``. ``operators`` see and act on every owner's jobs."""

    mode: Literal["iam", "jwt", "cognito"]
    default_client_name: str
    claim: OwnerClaim = "sub"
    client_names: Mapping[str, str] = field(default_factory=dict)
    operators: frozenset[str] = frozenset()

    def __post_init__(self) -> None:  # the configuration may name roles by any of their ARNs
        object.__setattr__(
            self, "client_names", {canonical_owner(key): name for key, name in self.client_names.items()}
        )
        object.__setattr__(self, "operators", frozenset(canonical_owner(key) for key in self.operators))

    def caller(self, request_context: Mapping[str, Any]) -> Caller:
        owner = self._principal(request_context)
        if not owner or len(owner) > MAX_OWNER_LENGTH or any(ord(c) < 0x20 for c in owner):
            raise Unidentified(f"no usable {self._source()} in the request")
        owner = canonical_owner(owner)
        return Caller(
            owner=owner,
            client_name=self.client_names.get(owner, self.default_client_name),
            operator=owner in self.operators,
        )

    def _principal(self, request_context: Mapping[str, Any]) -> str:
        if self.mode == "iam":
            identity = request_context.get("identity") or {}
            return str(identity.get("userArn") or "") if isinstance(identity, Mapping) else ""
        authorizer = request_context.get("authorizer") or {}
        if not isinstance(authorizer, Mapping):
            return ""
        claims = authorizer.get("claims")
        source = claims if isinstance(claims, Mapping) else authorizer
        value = source.get(self.claim)
        return value if isinstance(value, str) else ""

    def _source(self) -> str:
        return "IAM principal" if self.mode == "iam" else f"{self.claim!r} claim"


@dataclass(frozen=True)
class Caller:
    owner: str
    client_name: str
    operator: bool = False

    def may_see(self, job_owner: str | None) -> bool:
        """Whether a job owned by ``job_owner`` exists for this caller. A job with no owner (made
        before owners, or from a ``WORKFLOW_SCHEDULED`` no client name maps) is an operator's."""
        return self.operator or (job_owner is not None and job_owner == self.owner)


def owners_by_client_name(client_names: Mapping[str, str]) -> dict[str, str]:
    """Client name -> owner, from the configuration's owner -> client name: who owns a job that
    reached the tracker without the API (a PHP client's ``START_JOB``), by the client name it
    carries. A name several owners share names nobody: such jobs are the operators'."""
    owners: dict[str, set[str]] = {}
    for owner, name in client_names.items():
        owners.setdefault(name, set()).add(canonical_owner(owner))
    return {name: next(iter(named)) for name, named in owners.items() if len(named) == 1}
