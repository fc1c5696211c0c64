"""Credentials of the local cluster: a CA, the API server's serving certificate, the ServiceAccount key, a token.

Made with Debian's ``openssl`` command, once per cluster, into the run directory. The serving certificate is
signed by the CA and names ``127.0.0.1`` (and the in-cluster names), so every client verifies it: the admin
kubeconfig, Tekton's controller, and the steps that use the in-cluster credentials the executor mounts (the
``ca.crt`` there is the ConfigMap ``kube-root-ca.crt`` that the controller manager publishes from this CA).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Credentials", "make_credentials"]

SERVING_NAMES = (
    "IP:127.0.0.1",
    "IP:10.96.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class Credentials:
    """Paths of the files :func:`make_credentials` wrote, and the admin bearer token."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        """Signs and verifies ServiceAccount tokens (apiserver and controller manager)."""
        return self.directory / "sa.key"

    @property
    def token_file(self) -> Path:
        """The apiserver's static token file: one admin in ``system:masters``."""
        return self.directory / "tokens.csv"

    @property
    def admin_token(self) -> str:
        return self.token_file.read_text().split(",", 1)[0]

    def exist(self) -> bool:
        paths = (self.ca_cert, self.serving_cert, self.serving_key, self.service_account_key, self.token_file)
        return all(path.is_file() for path in paths)


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def make_credentials(directory: Path) -> Credentials:
    """Write the CA, serving certificate, ServiceAccount key and admin token into ``directory`` (kept if present)."""
    creds = Credentials(directory)
    if creds.exist():
        return creds
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    _openssl("genrsa", "-out", str(creds.ca_key), "2048")
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        str(creds.ca_key),
        "-days",
        "30",
        "-subj",
        "/CN=progressive-local-ca",
        "-out",
        str(creds.ca_cert),
    )
    _openssl("genrsa", "-out", str(creds.serving_key), "2048")
    request = directory / "apiserver.csr"
    _openssl("req", "-new", "-key", str(creds.serving_key), "-subj", "/CN=kube-apiserver", "-out", str(request))
    extensions = directory / "apiserver.ext"
    extensions.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(SERVING_NAMES)}\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(request),
        "-CA",
        str(creds.ca_cert),
        "-CAkey",
        str(creds.ca_key),
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        str(extensions),
        "-out",
        str(creds.serving_cert),
    )
    _openssl("genrsa", "-out", str(creds.service_account_key), "2048")
    creds.token_file.write_text(f"{secrets.token_hex(16)},admin,admin,system:masters\n")
    for path in directory.iterdir():
        path.chmod(0o600)
    return creds
