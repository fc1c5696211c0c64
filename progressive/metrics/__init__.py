"""Metrics for the analysis step: the Prometheus client, the PromQL library and counter bookkeeping.

Modules, one concept each:

* :mod:`progressive.metrics.errors` -- what can go wrong with a query, and which exit code it means;
* :mod:`progressive.metrics.prometheus` -- the client (``prometheus-api-client``, bearer token from a
  file, TLS, timeouts, bounded ``tenacity`` retries; exactly-one-series results);
* :mod:`progressive.metrics.templates` -- strict ``{{ variable }}`` rendering and the built-in queries;
* :mod:`progressive.metrics.providers` -- per provider (Istio, Linkerd, NGINX, Envoy Gateway, generic)
  the metric names and the labels that tell canary from stable;
* :mod:`progressive.metrics.counters` -- per-poll increments from raw counters, with reset handling;
* :mod:`progressive.metrics.latency` -- choosing the histogram bucket above which a request is slow.

Nothing here imports the judge or the Kubernetes client: the analysis step wires them together.
"""
