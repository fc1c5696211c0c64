"""Benchmarks: decision quality (``decision_sim.py``) and other measured targets; never run as timed tests."""
