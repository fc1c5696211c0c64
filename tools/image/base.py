"""The image's base layer: Debian bookworm's Python 3.11 and the libraries it links, and nothing else.

``mmdebstrap --variant=extract`` unpacks the named packages and their dependencies without running their
maintainer scripts (no shell, no package manager, no compiler ends up inside); the ``merged-usr`` hook lays the tree
out as Debian 12 does. Then the standard library is compiled to ``unchecked-hash`` bytecode, because a read-only
root filesystem can never cache it and every step would otherwise recompile what it imports. ``/etc/passwd`` names
the step's user (65532, ``nonroot``), as distroless images do.

Built once per set of inputs (this file, the layer writer, the package list, mmdebstrap's version) and cached:
the mirror is the other input, which is why the package versions are written into the image
(``/usr/share/progressive/debian-packages.txt``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from tools.image import layers
from tools.image.layers import Layer, write_layer

__all__ = ["BASE_EPOCH", "PACKAGES", "base_layer"]

PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib")
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
BASE_EPOCH = 1747699200
"""2025-05-20T00:00:00Z, the Debian snapshot this machine's mirror serves: the base's files' one timestamp."""

_LEFT_OUT = (
    "dev/",
    "proc/",
    "sys/",
    "run/",
    "tmp/",
    "var/cache/",
    "var/log/",
    "var/lib/apt/",
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/lintian/",
    "usr/lib/x86_64-linux-gnu/gconv/",
    "usr/lib/python3.11/pydoc_data/",
)
"""Contents that are not part of an image: runtime mounts, caches, logs, documentation, glibc's iconv modules and
pydoc's topics (nothing the step runs loads them). The folders themselves stay."""
_FILES_LEFT_OUT = frozenset({"etc/resolv.conf", "etc/hostname", "var/lib/dpkg/status-old"})

_PASSWD = "root:x:0:0:root:/root:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/usr/sbin/nologin\n"
_GROUP = "root:x:0:\nnonroot:x:65532:\n"


def _list_packages(rootfs: Path) -> None:
    """Write what was unpacked (name, version, architecture) into the image, then drop the downloaded packages."""
    lines = []
    for deb in sorted((rootfs / "var" / "cache" / "apt" / "archives").glob("*.deb")):
        fields = subprocess.run(
            ["dpkg-deb", "--show", "--showformat=${Package} ${Version} ${Architecture}\n", str(deb)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        lines.append(fields)
        deb.unlink()
    listing = rootfs / "usr" / "share" / "progressive" / "debian-packages.txt"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(sorted(lines)))


def _keep(name: str) -> bool:
    if name in _FILES_LEFT_OUT:
        return False
    return not any(name.startswith(folder) and name != folder.rstrip("/") for folder in _LEFT_OUT)


def _key() -> str:
    mmdebstrap = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True, check=True).stdout
    source = Path(__file__).read_bytes() + Path(layers.__file__).read_bytes()  # the layer writer is an input too
    return hashlib.sha256(repr((PACKAGES, MIRROR, SUITE, mmdebstrap)).encode() + source).hexdigest()[:16]


def _run_in(rootfs: Path, *argv: str) -> None:
    """Run ``argv`` chrooted in ``rootfs``, in a private mount namespace with ``/dev`` and ``/proc``."""
    script = (
        'mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && root=$1 && shift && exec chroot "$root" "$@"'
    )
    subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", str(rootfs), *argv],
        check=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "SOURCE_DATE_EPOCH": str(BASE_EPOCH)},
    )


def _debootstrap(rootfs: Path) -> None:
    subprocess.run(
        [
            "mmdebstrap",
            "--quiet",
            "--mode=root",
            "--variant=extract",
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            f"--include={','.join(PACKAGES)}",
            "--skip=cleanup/apt/cache",
            SUITE,
            str(rootfs),
            MIRROR,
        ],
        check=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SOURCE_DATE_EPOCH": str(BASE_EPOCH), "LC_ALL": "C.UTF-8"},
    )
    _list_packages(rootfs)
    for folder in ("proc", "sys", "run", "opt/progressive"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    (rootfs / "etc" / "passwd").write_text(_PASSWD)
    (rootfs / "etc" / "group").write_text(_GROUP)
    (rootfs / "tmp").chmod(0o1777)
    _run_in(
        rootfs,
        "/usr/bin/python3.11",
        "-m",
        "compileall",
        "-q",
        "-f",
        "-j1",
        "--invalidation-mode",
        "unchecked-hash",
        "-x",
        "/(test|idlelib|tkinter|lib2to3|ensurepip)/",
        "/usr/lib/python3.11",
    )


def base_layer(cache: Path) -> tuple[Path, Layer]:
    """The base root filesystem (a folder to chroot into) and its layer, built now or taken from ``cache``."""
    folder = cache / f"base-{_key()}"
    rootfs, blob, done = folder / "rootfs", folder / "layer.tar.gz", folder / "done"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        _debootstrap(rootfs)
        layer = write_layer(rootfs, "", blob, BASE_EPOCH, keep=_keep)
        layer.save_record(done)
    return rootfs, Layer.from_record(blob, done)
