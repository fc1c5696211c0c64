"""Several versions of one app live at once: names, objects and weights shared by the model, compiler and step.

Pure standard library (the step imports it on every cold start); no I/O. See ``docs/versions.md``.
"""
