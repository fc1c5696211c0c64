"""``scripts/image build`` and ``scripts/image push REF``: the step image, without a container engine.

build   writes dist/oci/ (an OCI layout) and dist/progressive-<version>.oci.tar, and prints the digest last.
push    copies that archive to REF with skopeo (docker://REF unless REF names a transport), prints the
        reference to compile with (progressive compile --image REF@sha256:...) and the digest last.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.image.build import REPO, build

__all__ = ["main"]

_TRANSPORTS = ("docker://", "oci:", "oci-archive:", "dir:", "docker-archive:", "containers-storage:")


def _archive(dist: Path) -> Path:
    archives = sorted(dist.glob("progressive-*.oci.tar"))
    if not archives:
        raise SystemExit(f"scripts/image push: no image under {dist}/; run scripts/image build first")
    return archives[-1]


def _build(args: argparse.Namespace) -> int:
    built = build(Path(args.dist).resolve())
    if not args.quiet:
        print(f"image    {built.reference}")
        print(f"archive  {built.archive.relative_to(REPO) if built.archive.is_relative_to(REPO) else built.archive}")
        print(f"size     {built.size / 1e6:.1f} MB uncompressed, {built.compressed_size / 1e6:.1f} MB compressed")
        print(f"took     {built.seconds:.1f} s")
    print(built.digest)
    return 0


def _push(args: argparse.Namespace) -> int:
    archive = _archive(Path(args.dist).resolve())
    destination = args.ref if args.ref.startswith(_TRANSPORTS) else f"docker://{args.ref}"
    with tempfile.TemporaryDirectory() as scratch:
        digest_file = Path(scratch) / "digest"
        result = subprocess.run(
            ["skopeo", "copy", "--quiet", "--digestfile", str(digest_file), *args.skopeo_args,
             f"oci-archive:{archive}", destination],
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            print(f"scripts/image push: skopeo copy to {destination} failed ({result.returncode})", file=sys.stderr)
            return result.returncode
        digest = digest_file.read_text().strip()
    print(f"pushed   {archive.name} to {destination}")
    if destination.startswith("docker://"):
        name = destination.removeprefix("docker://").split("@")[0]
        print(f"compile  progressive compile --image {name}@{digest} ...")
    print(digest)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse and run one subcommand."""
    parser = argparse.ArgumentParser(prog="scripts/image", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="Build the step image into DIST (default dist/).")
    build_parser.add_argument("--dist", default=str(REPO / "dist"), metavar="DIST")
    build_parser.add_argument("--quiet", action="store_true", help="Print the digest only.")
    push_parser = commands.add_parser("push", help="Copy the built image to REF with skopeo.")
    push_parser.add_argument("ref", metavar="REF", help="e.g. registry.example.com/platform/progressive:0.1.0")
    push_parser.add_argument("--dist", default=str(REPO / "dist"), metavar="DIST")
    push_parser.add_argument("skopeo_args", nargs="*", metavar="-- SKOPEO-ARGS",
                             help="More skopeo copy options, e.g. -- --dest-creds USER:TOKEN is NOT advised; "
                                  "use --authfile or REGISTRY_AUTH_FILE.")  # fmt: skip
    args = parser.parse_args(argv)
    return _build(args) if args.command == "build" else _push(args)


if __name__ == "__main__":
    sys.exit(main())
