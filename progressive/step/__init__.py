"""The container step (runtime layer): ``progressive step <command>``.

Imports ``progressive.routers``, ``progressive.metrics`` and ``progressive.judge`` as each command needs
them, never ``progressive.compile``.
"""
