"""Fault injection for the local run: load, faults, verdicts, report (`tools/chaos.py`)."""

from devkit.chaos.cli import main

__all__ = ["main"]
