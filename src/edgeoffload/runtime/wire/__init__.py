"""The wire: what crosses between a client and a worker, and between workers.

The message format and payload pickling (:mod:`.protocol`), every operation named once
(:mod:`.ops`), the direct call channel (:mod:`.channel`), code bundles (:mod:`.bundles`),
errors across the wire (:mod:`.errors`), TLS material (:mod:`.security`) and every call
into Dask (:mod:`.dask_api`). Both halves of the runtime build on this layer; it imports
neither of them.
"""
