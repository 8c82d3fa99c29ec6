"""Strategies: one small class each, scikit-learn style (`fit(train) -> self`, `predict`)."""

from shouldtune.strategies.base import Strategy, StrategyContext, TrainingSet

__all__ = ["Strategy", "StrategyContext", "TrainingSet"]
