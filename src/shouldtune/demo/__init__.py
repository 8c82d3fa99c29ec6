"""The bundled demo: 10 card intents of Banking77 (CC BY 4.0, PolyAI); see SOURCE.md."""

from __future__ import annotations

from pathlib import Path

from shouldtune.task import TaskConfig, load_task

DEMO_FOLDER = Path(__file__).parent


def demo_task() -> TaskConfig:
    """Return the demo's task: sized to finish in a few minutes on a 2-core CPU."""
    return load_task(DEMO_FOLDER / "task.yaml")
