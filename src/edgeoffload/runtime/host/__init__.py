"""The host the runtime runs on: processes and CPU quotas (Linux ``/proc`` and cgroups).

The bottom of the runtime's layers: it imports nothing else of the runtime.
"""
