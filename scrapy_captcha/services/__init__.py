"""The solver services: profiles (one per service: URLs, task types, field layout,
solutions, errors, prices, refunds), the treq client, wire validation of replies,
accounts and their balances, fingerprints, and the public ``providers`` API.

May import: ``detect`` and the base modules.
"""
