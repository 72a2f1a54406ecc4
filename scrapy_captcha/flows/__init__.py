"""The flows that act on responses: the clearance flow (Cloudflare and the other cookie
walls), the gate flow (widgets and images submitted), fill on submit, jobs, forms, the
walls no service opens, and the diagnosis of a refused clearance.

May import: every layer below (``routes``, ``policy``, ``services``, ``detect``) and the
base modules; nothing imports a flow but the top (middlewares, root, API).
"""
