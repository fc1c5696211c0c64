"""Build the step image without a container engine: Debian's packages, the locked wheels, an OCI archive.

``scripts/image build`` and ``scripts/image push REF`` run :mod:`tools.image.__main__`.
"""
