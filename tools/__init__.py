"""Build tooling that is not part of the package: the local cluster (Go), the step image (Python)."""
