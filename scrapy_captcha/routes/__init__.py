"""Routes and what they hold: clearances, the stores (memory, file, Redis), single flight
within and across processes (coordination, leases), the shelves of a shared queue.

May import: ``policy``, ``services``, ``detect`` and the base modules.
"""
