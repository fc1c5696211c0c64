"""``progressive step deploy``: put the new image(s) on the canary Deployment and wait until it is available.

``--images`` is either one image (the canary must have exactly one container) or
``container=image,container=image`` (each container must exist in the pod template: containers or
init containers; an unknown name is exit 2 naming it and listing the known ones). ``--replicas`` empty
means as many replicas as the stable Deployment has. The images and the replica count are one write
(``PUT`` with ``resourceVersion``); then the step waits, within ``--progress-deadline``, until the canary
is available the way ``kubectl rollout status`` decides. On failure the message carries what the pods
say (``ImagePullBackOff``, ``CrashLoopBackOff`` with the last termination message, ``Unschedulable``).

Before anything changes, :mod:`progressive.step.preflight` checks what the rollout's stages will need
(Deployments, routing object and backends, Prometheus and every query): a failure exits 3 or 8 with
nothing changed.

The stable's replica count is saved in the state record (``stable_replicas``) the first time a run
deploys, so later stages know the capacity the rollout started with. Running the step again with the
same flags writes nothing and only waits; once this run has moved traffic (a retried TaskRun runs its
deploy step again before the stage's weight change) it writes nothing and does not wait.
"""

from __future__ import annotations

from typing import Any

from progressive.errors import StepError, UsageError
from progressive.kube.deployments import spec_replicas, wait_available
from progressive.kube.objects import JSON
from progressive.kube.resources import DEPLOYMENTS
from progressive.naming import is_dns_label
from progressive.state import State
from progressive.step.announce import announce, record_failure
from progressive.step.invocation import Invocation, emit
from progressive.step.preflight import check_before_deploy
from progressive.step.session import open_session
from progressive.step.waiting import stop_if_aborted

__all__ = ["parse_images", "run", "with_images"]

SINGLE = ""
"""Key of :func:`parse_images` for "the only container"."""


def parse_images(text: str) -> dict[str, str]:
    """``{"": image}`` for one image, else ``{container: image}``; :class:`UsageError` naming the bad part."""
    text = text.strip()
    if "=" not in text:
        if not text or "," in text or any(c.isspace() for c in text):
            raise UsageError(f"--images: {text!r} is neither one image nor container=image pairs")
        return {SINGLE: text}
    images: dict[str, str] = {}
    for part in text.split(","):
        container, _, image = part.strip().partition("=")
        if not is_dns_label(container) or not image or any(c.isspace() for c in image) or "=" in image:
            raise UsageError(f"--images: {part.strip()!r} is not container=image")
        if container in images:
            raise UsageError(f"--images: container {container!r} is named twice")
        images[container] = image
    return images


def _containers(deployment: JSON) -> list[dict[str, Any]]:
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c for c in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])] if isinstance(c, dict)]


def with_images(deployment: JSON, images: dict[str, str], where: str) -> JSON:
    """``deployment`` with the images set (in place); :class:`UsageError` for an unknown container."""
    containers = _containers(deployment)
    names = [str(c.get("name")) for c in containers]
    if SINGLE in images:
        main = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
        if len(main) != 1:
            raise UsageError(
                f"--images: {where} has {len(main)} containers ({', '.join(names)}); name each one: container=image,..."
            )
        main[0]["image"] = images[SINGLE]
        return deployment
    for container, image in images.items():
        found = [c for c in containers if c.get("name") == container]
        if not found:
            raise UsageError(f"--images: {where} has no container {container!r}; its containers: {', '.join(names)}")
        found[0]["image"] = image
    return deployment


def _replicas_flag(invocation: Invocation) -> int | None:
    text = invocation.text("replicas").strip()
    if not text:
        return None
    try:
        value = int(text, 10)
    except ValueError:
        raise UsageError(f"--replicas: {text!r} is not a whole number") from None
    if value < 0:
        raise UsageError(f"--replicas: {value} is below 0")
    return value


def run(invocation: Invocation) -> int:
    """Deploy the canary; see the module docstring."""
    images = parse_images(invocation.text("images"))
    wanted_replicas = _replicas_flag(invocation)
    session = open_session(invocation)
    namespace = session.namespace
    stable_ref = DEPLOYMENTS.ref(namespace, invocation.text("stable-deployment"))
    canary_ref = DEPLOYMENTS.ref(namespace, invocation.text("canary-deployment"))
    try:
        recorded = session.store.current().for_run(session.run_id)
        stop_if_aborted(invocation, session.kube, recorded, "deploy")
        if recorded.canary_weight or recorded.pending_weight:
            # A retried stage runs its deploy step again after this run moved traffic: writing the
            # Deployment again (e.g. replicas) could change what the canary serves, so leave it.
            weight = recorded.pending_weight if recorded.pending_weight is not None else recorded.canary_weight
            emit({"action": "deploy", "changed": False, "resumed": True, "weight": weight})
            return 0
        check_before_deploy(invocation, session.objects, lambda found: emit({"action": "preflight", **found.to_json()}))
        stable = session.objects.get(stable_ref)
        canary = session.objects.get(canary_ref)
        with_images(canary, images, str(canary_ref))  # check every container name before writing anything
        replicas = spec_replicas(stable) if wanted_replicas is None else wanted_replicas
        capacity = spec_replicas(stable)

        def begin(state: State) -> State:
            current = state.for_run(session.run_id)
            saved = current.stable_replicas if current.stable_replicas is not None else capacity
            return current.evolve(phase="deploying", stage=session.stage or current.stage, stable_replicas=saved)

        session.store.update(begin)

        def change(deployment: JSON) -> JSON:
            with_images(deployment, images, str(canary_ref))
            deployment.setdefault("spec", {})["replicas"] = replicas
            return deployment

        updated = session.objects.update(canary_ref, change)
        wait_available(session.objects, canary_ref, invocation.seconds("progress-deadline"))
        session.store.update(lambda state: state.for_run(session.run_id).evolve(phase="deployed"))
    except StepError as exc:
        record_failure(invocation, session.kube, "CanaryDeployFailed", f"deploy: {exc}")
        raise
    shown = ", ".join(f"{name}={image}" if name else image for name, image in images.items())
    announce(
        invocation,
        session.kube,
        "CanaryDeployed",
        f"{canary_ref} runs {shown} with {replicas} available replicas",
        deployment=canary_ref.qualified,
        images={name or "*": image for name, image in images.items()},
        replicas=replicas,
        changed=updated.changed,
    )
    return 0
