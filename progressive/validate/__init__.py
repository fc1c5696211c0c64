"""The Tekton v1 checker behind ``progressive validate``: JSON Schema plus the rules a schema cannot see.

Schemas are Tekton Pipelines v1.15.0's CRD schemas, vendored in ``schemas/`` (Apache-2.0, see its NOTICE).
The rules are those of ``docs/tekton.md`` (Tekton's admission webhook and reconciler checks, plus a few
stricter ones for safety); :data:`RULES` lists them by id. Use it on any Tekton YAML, ours or hand-written::

    findings = validate_documents(load_paths(["pipelines/"]))
    for finding in findings:
        print(finding)        # FILE:LINE: PATH: message [rule]
"""

from progressive.validate._check import validate_documents
from progressive.validate._common import RULES
from progressive.validate._documents import Document, Finding, ReadError, load_files, load_paths, load_text

__all__ = ["RULES", "Document", "Finding", "ReadError", "load_files", "load_paths", "load_text", "validate_documents"]
