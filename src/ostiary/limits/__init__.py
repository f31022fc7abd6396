"""Per-address request limits on the unauthenticated endpoints, shared by every node.

``groups`` names the endpoint groups and maps a request to one; ``limiter`` counts and
decides in memory and exchanges counts with a shared store (the database or Redis) about
once a second; ``stores`` holds the Redis and in-memory stores (the database one is a
repository, ``storage.repos.rate_limits``).
"""

from ostiary.limits.groups import GROUPS, JSON_GROUPS, group_of
from ostiary.limits.limiter import RateLimiter, source_of

__all__ = ["GROUPS", "JSON_GROUPS", "RateLimiter", "group_of", "source_of"]
