"""The step's Kubernetes plumbing: clients, retries, raw object access, the state record and Events.

Everything here talks to the API server through the official ``kubernetes`` client, and every call that
can hit a transient fault goes through :mod:`progressive.kube.retry`. Objects are handled as the raw JSON
the server returned (``dict`` in the server's key order), never as generated model classes: a user's
routing object must come back byte-for-byte except for the fields the step means to change.

Modules (import the one you need; the package itself imports nothing heavy):

- ``client``      :class:`~progressive.kube.client.Kube` and :func:`~progressive.kube.client.connect`
- ``status``      the API server's error answers as :class:`~progressive.kube.status.ApiError`
- ``retry``       the retry policy (409, 429, 5xx, timeouts, dropped connections; bounded, jittered)
- ``resources``   API group/version/plural of the kinds the step touches, and their URL paths
- ``objects``     raw JSON get / read-modify-write / create / delete / list, retried
- ``state_store`` the rollout's state record ConfigMap
- ``events``      one Kubernetes Event per transition (never fatal)
- ``labels``      what marks the objects progressive creates as its own
- ``deployments`` availability like ``kubectl rollout status``, and why pods are not ready
- ``waiting``     polling with a deadline that names what it was waiting for
"""
