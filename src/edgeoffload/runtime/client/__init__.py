"""The client side: what runs in the process that offloads.

``@offload`` (:mod:`.decorators`), the workers a client knows (:mod:`.pool`), decisions
(:mod:`.decision`), sessions with retries, fallback and stats (:mod:`.session`,
:mod:`.stats`), the embedded cluster (:mod:`.local_cluster`) and calibration
(:mod:`.calibration`). Builds on the wire and worker layers; nothing here imports the
scheduled-DAG layer.
"""
