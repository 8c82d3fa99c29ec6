"""Report: results.json, report.md and the terminal summary, from a finished run."""

from shouldtune.report.outputs import write_outputs

__all__ = ["write_outputs"]
