"""``progressive step version add``: a version's objects, available, recorded at weight 0; no traffic yet.

Order: the Deployment (it owns the rest), its immutable ConfigMap, its Service, the state record, then the wait
until the Deployment is available. Each object already there must be this version's (labels) with the same image
and configuration, else the step refuses (a commit has one image; a new configuration is ``update-config``).
"""

from __future__ import annotations

from progressive.errors import UsageError
from progressive.kube.deployments import scale_to, template_of, wait_available
from progressive.step.invocation import Invocation
from progressive.step.version._context import opened
from progressive.step.version._objects import (
    SERVICES,
    checked_image,
    config_flags,
    deployment_ref,
    ensure_configmap,
    ensure_created,
)
from progressive.step.version.state import AppRecord, VersionRecord
from progressive.versions import objects as build

__all__ = ["run"]


def run(invocation: Invocation) -> int:
    """Add the version; see the module docstring."""
    with opened(invocation) as ctx:
        commit = ctx.commit()
        image = checked_image(invocation.text("image"))
        config, annotations = config_flags(invocation.json("config"), invocation.json("pod-annotations"))
        replicas = invocation.integer("replicas") or 0
        port = invocation.integer("port") or 0
        if not 1 <= port <= 65535:
            raise UsageError(f"--port: {port} is not a port (1..65535)")
        app = build.AppSpec(
            name=ctx.app,
            namespace=ctx.namespace,
            port=port,
            container=invocation.text("container"),
            config_mount=invocation.text("config-mount"),
            progress_deadline=max(1, int(invocation.seconds("progress-deadline"))),
            history=max(1, invocation.integer("keep") or 1),
        )
        version = build.VersionSpec(commit, image, config, replicas, annotations)
        ref = deployment_ref(ctx.namespace, ctx.app, commit)
        deployment, created = ensure_created(ctx.objects, ref, build.deployment(app, version), ctx.app, commit)
        if not created:
            template = template_of(deployment)
            running = [c.get("image") for c in (template.get("spec") or {}).get("containers") or []]
            if image not in running:
                raise UsageError(
                    f"--image: {ref} runs {running!r}, not {image!r}; a commit has one image (retire it first)"
                )
            current = ((template.get("metadata") or {}).get("annotations") or {}).get(build.CONFIG_HASH_ANNOTATION)
            if current != version.config_hash:
                raise UsageError(
                    f"--config: {ref} runs configuration {current}, not {version.config_hash}; "
                    "change a running version's configuration with `version update-config`"
                )
            if replicas != int((deployment.get("spec") or {}).get("replicas", 1)):
                scale_to(ctx.objects, ref, replicas)
        configmap, configmap_created = ensure_configmap(ctx.objects, app, version, deployment)
        service_body = build.service(app, version, deployment)
        _service, service_created = ensure_created(
            ctx.objects, SERVICES.ref(ctx.namespace, ref.name), service_body, ctx.app, commit
        )

        def record(state: AppRecord) -> AppRecord:
            kept = state.find(commit)
            return state.upsert(
                VersionRecord(
                    commit=commit,
                    image=image,
                    config_hash=version.config_hash,
                    configmap=version.configmap_name(ctx.app),
                    replicas=replicas,
                    weight=kept.weight if kept is not None else 0,
                )
            )

        ctx.store.update(record)
        wait_available(ctx.objects, ref, invocation.seconds("progress-deadline"))
        changed = created or configmap_created or service_created
        message = (
            f"version {commit[:7]} of {ctx.app} is available ({replicas} replicas, image {image}, configuration "
            f"{version.config_hash}); it takes no traffic until set-weights gives it some"
        )
        ctx.event(ref, "VersionAdded" if changed else "VersionVerified", message)
        invocation.write_result("config-hash", version.config_hash)
        invocation.write_result("workload", ref.name)
        ctx.say(
            deployment=ref.qualified,
            configmap=configmap["metadata"]["name"],
            service=ref.name,
            config_hash=version.config_hash,
            changed=changed,
            message=message,
        )
    return 0
