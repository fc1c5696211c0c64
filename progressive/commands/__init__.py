"""User-facing subcommands of ``progressive``, one module each, imported only when invoked."""
