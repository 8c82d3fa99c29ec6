"""Analysis: pure functions over trials and predictions (numbers in, frozen records out).

`analyse(results, predictions)` runs all of them over one run's results.json document and
returns an `Analysis` (see `shouldtune.analysis.run`); the modules can be used one by one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Analysis", "analyse"]

if TYPE_CHECKING:
    from shouldtune.analysis.run import Analysis, analyse


def __getattr__(name: str) -> Any:
    # Lazy: importing one small module (e.g. cost) should not load scipy's optimiser.
    if name in __all__:
        from shouldtune.analysis import run

        return getattr(run, name)
    raise AttributeError(f"module 'shouldtune.analysis' has no attribute {name!r}")
