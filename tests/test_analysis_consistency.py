import pytest

from shouldtune.analysis.consistency import prediction_agreement, seed_spread


def test_seed_spread_hand_computed():
    # scores 0.70, 0.80, 0.90: mean 0.80; deviations -0.1, 0, 0.1;
    # sample variance (0.01 + 0 + 0.01) / (3 - 1) = 0.01 -> std 0.1; range 0.2.
    spread = seed_spread([0.8, 0.7, 0.9])
    assert spread.mean == pytest.approx(0.8)
    assert spread.std == pytest.approx(0.1)
    assert (spread.min, spread.max) == (0.7, 0.9)
    assert spread.range == pytest.approx(0.2)


def test_seed_spread_single_seed_has_zero_std():
    spread = seed_spread([0.75])
    assert (spread.mean, spread.std, spread.range) == (0.75, 0.0, 0.0)


def test_prediction_agreement_three_runs():
    # A vs B agree on examples 1, 2, 4 -> 3/4; A vs C on 2, 3, 4 -> 3/4;
    # B vs C on 2, 4 -> 2/4. Mean = (0.75 + 0.75 + 0.5) / 3 = 2/3.
    runs = [["x", "y", "z", "x"], ["x", "y", "y", "x"], ["y", "y", "z", "x"]]
    assert prediction_agreement(runs) == pytest.approx(2 / 3)


def test_prediction_agreement_single_run_is_one():
    assert prediction_agreement([["x", "y"]]) == 1.0


def test_prediction_agreement_rejects_different_test_sets():
    with pytest.raises(ValueError):
        prediction_agreement([["x", "y"], ["x"]])
