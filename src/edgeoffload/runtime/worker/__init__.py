"""The worker side: what runs inside a worker process, serving clients and peers.

The agent and its handler table (:mod:`.agent`), the per-client code cache (:mod:`.cache`),
scheduled-DAG execution (:mod:`.dag_service`), the kernels behind the client's
measurements (:mod:`.kernels`), how a worker describes itself (:mod:`.description`) and
the Dask plugins that start it all in a Dask worker (:mod:`.plugins`). Builds on the wire
layer only; nothing here imports the client side.
"""
