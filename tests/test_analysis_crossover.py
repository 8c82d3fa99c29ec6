import pytest

from shouldtune.analysis.crossover import find_crossover
from shouldtune.analysis.significance import PairedComparison


def _cmp(low: float, high: float) -> PairedComparison:
    return PairedComparison(difference=(low + high) / 2, ci_low=low, ci_high=high, p_a_better=0.5)


def test_crossover_at_16():
    # 4: behind (CI below 0); 8: tie (CI spans 0); 16: ahead (ci_low > 0);
    # 32: tie, not significantly behind; 64: ahead -> crossover is 16.
    sizes = [64, 4, 8, 16, 32]  # unsorted on purpose
    comparisons = [_cmp(0.05, 0.12), _cmp(-0.2, -0.1), _cmp(-0.05, 0.03), _cmp(0.01, 0.08), _cmp(-0.01, 0.06)]
    result = find_crossover(sizes, comparisons)
    assert result.reached and result.n_per_class == 16
    assert "16 examples per class" in result.description


def test_never_crosses():
    result = find_crossover([4, 8, 16], [_cmp(-0.3, -0.1), _cmp(-0.1, 0.02), _cmp(-0.02, 0.04)])
    assert not result.reached and result.n_per_class is None
    assert "up to 16" in result.description


def test_crosses_then_falls_back():
    # Ahead at 8 but significantly behind at 32 (ci_high < 0): no stable crossover.
    result = find_crossover([4, 8, 16, 32], [_cmp(-0.1, 0.0), _cmp(0.01, 0.1), _cmp(-0.05, 0.05), _cmp(-0.1, -0.01)])
    assert not result.reached and result.n_per_class is None
    assert "at 8" in result.description and "behind at 32" in result.description


def test_falls_back_then_crosses_again():
    # Ahead at 8, behind at 16, ahead again at 32 and 64: the durable crossover is 32.
    result = find_crossover([8, 16, 32, 64], [_cmp(0.01, 0.1), _cmp(-0.1, -0.01), _cmp(0.02, 0.1), _cmp(0.03, 0.1)])
    assert result.n_per_class == 32


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        find_crossover([4, 8], [_cmp(0, 1)])
