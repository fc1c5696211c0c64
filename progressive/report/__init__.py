"""``progressive report``: one run told as a self-contained HTML page with plots (see ``progressive.commands.report``).

``story`` turns what the cluster keeps (the state record's timeline, Events) into a :class:`Story`; ``page``
renders it, with the plots ``plots`` draws (matplotlib, the ``report`` extra).
"""

from progressive.report.story import Story, tell

__all__ = ["Story", "tell"]
