"""What the add-on may do: the outbound policy (where its own requests may go, at every
hop), the budget (tasks and money, reserved until a task lands), the solving policy (one
error policy, failover, health), and the decision table of a challenged response.

May import: ``services``, ``detect`` and the base modules.
"""
