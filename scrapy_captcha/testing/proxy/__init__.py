"""The emulated forward proxies: each gives the requests it forwards an exit identity (a
clearance is bound to it), with Basic authentication, sticky sessions by user name and
``CONNECT`` tunnels.

Its face is :class:`ForwardProxy`.
"""

from ._proxy import ForwardProxy

__all__ = ["ForwardProxy"]
