"""Names derived from an app and a commit, the same in the model, the compiler and the step.

Per version ``v`` (its commit's first seven hex digits, ``sha7``) of app ``A``:

* Deployment and Service ``A-<sha7>`` (a Service name is an RFC 1035 label: at most 63 characters, starting
  with a letter, so ``A`` must start with a letter and have at most :data:`APP_NAME_MAX` characters);
* ConfigMap ``A-<sha7>-<cfghash8>``, named by the hash of its content, so a new configuration is a new object
  and an old ReplicaSet still finds the one it mounted (``kubectl rollout undo`` works);
* state record ConfigMap and Lease: ``progressive-A-versions`` and ``progressive-A`` (the Lease a canary
  Rollout named ``A`` uses too, so a configuration update and a rollout of the same app never interleave).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

__all__ = [
    "APP_NAME_MAX",
    "COMMIT_PATTERN",
    "SHORT",
    "analysis_name",
    "config_hash",
    "configmap_name",
    "is_commit",
    "is_digest_pinned",
    "lease_name",
    "short",
    "state_name",
    "version_name",
]

SHORT = 7
"""Hex digits of a commit in derived names (``git rev-parse --short`` length)."""
HASH_LENGTH = 8
"""Hex digits of the configuration hash in a ConfigMap name."""
SERVICE_NAME_MAX = 63
APP_NAME_MAX = SERVICE_NAME_MAX - 1 - SHORT
"""Longest app name whose ``<app>-<sha7>`` still is a Service name (55)."""
COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}")
"""A full Git commit id (SHA-1), lower-case."""
DIGEST_IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._:/-]*(:[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}")
"""An image reference pinned by digest: ``registry/repo[:tag]@sha256:<64 hex>``."""


def is_digest_pinned(image: str) -> bool:
    """Whether ``image`` is ``registry/repo[:tag]@sha256:<64 hex>``."""
    return DIGEST_IMAGE_PATTERN.fullmatch(image) is not None


def is_commit(value: str) -> bool:
    """Whether ``value`` is a full 40-hex lower-case commit id."""
    return COMMIT_PATTERN.fullmatch(value) is not None


def short(commit: str) -> str:
    """The commit's first :data:`SHORT` hex digits."""
    return commit[:SHORT]


def version_name(app: str, commit: str) -> str:
    """Deployment and Service of one version: ``<app>-<sha7>``."""
    return f"{app}-{short(commit)}"


def config_hash(data: Mapping[str, str], pod_annotations: Mapping[str, str] | None = None) -> str:
    """:data:`HASH_LENGTH` hex digits of SHA-256 over the configuration's canonical JSON (sorted keys).

    Pod annotations of the configuration count only when there are some, so a plain file configuration hashes
    the same whichever way it was declared.
    """
    content: object = dict(sorted(data.items()))
    if pod_annotations:
        content = {"data": content, "podAnnotations": dict(sorted(pod_annotations.items()))}
    canonical = json.dumps(content, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def configmap_name(app: str, commit: str, digest: str) -> str:
    """The immutable ConfigMap of one configuration of one version: ``<app>-<sha7>-<cfghash8>``."""
    return f"{version_name(app, commit)}-{digest}"


def analysis_name(app: str) -> str:
    """What an App's analyses run as: ``<app>-analysis``, so their record and Lease are ``progressive-<app>-analysis``.

    One name per app, known at compile time (the Role names it); the record keeps the last verdict and which
    version it was about.
    """
    return f"{app}-analysis"


def state_name(app: str) -> str:
    """The app's state record ConfigMap: ``progressive-<app>-versions``."""
    return f"progressive-{app}-versions"


def lease_name(app: str) -> str:
    """The app's Lease (shared with a canary Rollout of the same name): ``progressive-<app>``."""
    return f"progressive-{app}"
