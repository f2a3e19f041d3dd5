"""The "auto" rules (pure functions, no fit) and the inner search that
resolves the searched ones, visible on the fitted estimator."""

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import KFold

from sklstm import SequenceClassifier, SequenceRegressor
from sklstm import _auto
from sklstm._search import best_beyond_noise, inner_search


@pytest.mark.parametrize(
    "typical, stride, text, expected",
    [(64, 2, False, 0), (65, 2, False, 1), (128, 2, False, 1), (129, 2, False, 2),
     (1000, 2, False, 4), (1000, 1, False, 0), (1000, 2, True, 0)],
)
def test_conv_layers_shorten_the_typical_sequence_to_the_target(typical, stride, text, expected):
    assert _auto.n_conv_layers("auto", typical, 7, stride, text) == expected
    assert _auto.n_conv_layers(3, typical, 7, stride, text) == 3


def test_typical_length_is_the_median():
    assert _auto.typical_length(50) == 50
    assert _auto.typical_length(100, np.array([3, 4, 100])) == 4
    assert _auto.typical_length(100, np.array([3, 4])) == 4  # 3.5, rounded up


def test_multiscale_dilations_span_the_typical_sequence():
    # a kernel of 7 dilated by d spans 6 d + 1 steps
    assert _auto.multiscale_dilations(12, 7, 64) == (1,)
    assert _auto.multiscale_dilations(13, 7, 64) == (1, 2)
    assert _auto.multiscale_dilations(10_000, 7, 64) == tuple(2**i for i in range(11))
    assert _auto.multiscale_dilations(10_000, 7, 3) == (1, 2, 4)  # one per channel


@pytest.mark.parametrize(
    "typical, expected",
    [(10, 4), (100, 4), (112, 4), (113, 5), (427, 17), (2000, 80)],
)
def test_difference_lag_spans_a_share_of_the_typical_series(typical, expected):
    assert _auto.difference_lag("auto", typical) == expected
    assert _auto.difference_lag(2, typical) == 2  # a number is kept


def test_the_fitted_lag_is_the_networks():
    from sklstm.datasets import make_scatter_spectra

    X, y = make_scatter_spectra(30, 300, random_state=0)
    reg = SequenceRegressor(
        max_epochs=1, n_networks=1, summary_points=0, difference_lag="auto",
        per_sequence_features=True, random_state=0,
    ).fit(X, y)
    assert reg.difference_lag_ == 12  # 300 / 25
    assert reg.net_.module_.inputs.slopes.lag == 12
    # ragged: the median length decides, as for the front-end
    ragged = [x[: n] for x, n in zip(X, [150] * 10 + [300] * 20)]
    assert reg.set_params(input_differences=1).fit(ragged, y).difference_lag_ == 12
    assert reg.net_.module_.inputs.differences.lag == 12
    assert reg.set_params(difference_lag=3).fit(X, y).difference_lag_ == 3
    with pytest.raises(ValueError, match="difference_lag"):
        reg.set_params(difference_lag="long").fit(X, y)


def test_first_block_dilations_are_checked():
    assert _auto.first_block_dilations("auto", 100, 7, 64) == (1,)
    assert _auto.first_block_dilations([1, 3], 100, 7, 64) == (1, 3)
    for bad in ([0], [1.5], [[1]], [], list(range(1, 66))):
        with pytest.raises(ValueError, match="conv_dilations must be"):
            _auto.first_block_dilations(bad, 100, 7, 64)


def test_epoch_work_counts_the_front_end_and_the_recurrent_steps():
    # no front-end: RECURRENT_STEP_COST units a step
    assert _auto.epoch_work(10, 50) == 10 * 50 * _auto.RECURRENT_STEP_COST
    # two blocks: 400 steps through the convolutions, 100 through the LSTM
    assert _auto.epoch_work(10, 400, n_conv_layers=2) == 10 * (400 + 4 * 100)
    # more features: only the first block reads them, and each beyond 16
    # adds 64 * 7 / 2 multiply-adds a step (64 channels, kernel 7, stride
    # 2), FRONT_END_UNIT_MACS to a unit, whatever the depth
    extra = 16 * 64 * 7 / 2 / _auto.FRONT_END_UNIT_MACS
    assert _auto.epoch_work(10, 400, n_conv_layers=2, n_features=32) == round(
        10 * (400 * (1 + extra) + 400)
    )
    assert _auto.epoch_work(10, 400, n_conv_layers=1, n_features=32) == round(
        10 * (400 * (1 + extra) + 4 * 200)
    )
    assert _auto.epoch_work(10, 400, n_conv_layers=2, n_features=8) == 10 * (400 + 400)
    # a recurrent layer reading more than RECURRENT_INPUT_WIDTH inputs (the
    # features without a front-end; the front-end's channels with one)
    wide = 4 * _auto.RECURRENT_INPUT_WIDTH
    assert _auto.epoch_work(10, 50, n_features=wide) == 4 * _auto.epoch_work(10, 50)
    assert _auto.epoch_work(10, 50, n_features=wide, num_layers=2) == 5 * _auto.epoch_work(10, 50)
    assert _auto.epoch_work(10, 400, n_conv_layers=2, conv_channels=wide) == 10 * (400 + 4 * 4 * 100)
    # a larger or deeper or one-way network
    assert _auto.epoch_work(1, 50, num_hidden=48) == 4 * _auto.epoch_work(1, 50)
    assert _auto.epoch_work(1, 50, num_layers=2) == 2 * _auto.epoch_work(1, 50)
    assert _auto.epoch_work(1, 50, bidirectional=False) == _auto.epoch_work(1, 50) / 2
    # steps of sequences of different lengths cost more (their masks)
    assert _auto.epoch_work(10, 400, n_conv_layers=2, ragged=True) == round(
        _auto.RAGGED_STEP_COST * 10 * (400 + 4 * 100)
    )


def test_a_ragged_set_plans_as_ragged_only_where_lengths_differ():
    from sklstm import SequenceClassifier

    rng = np.random.RandomState(0)
    same = [rng.normal(size=40) for _ in range(12)]
    ragged = [rng.normal(size=n) for n in [40] + [20] * 11]
    y = np.arange(12) % 2
    params = dict(num_hidden=4, max_epochs=1, n_networks=1, random_state=0)
    plain = SequenceClassifier(**params).fit(same, y).fit_plan_["work"]
    padded = SequenceClassifier(**params).fit(ragged, y).fit_plan_["work"]
    assert plain == _auto.epoch_work(12, 40, n_features=2, num_hidden=4)  # one epoch
    assert padded == _auto.epoch_work(12, 40, n_features=2, num_hidden=4, ragged=True)


def test_the_fit_plan_stays_within_the_budget():
    budget = _auto.FIT_BUDGET
    for work in (1_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000):
        for candidates in (0, 2, 4):
            plan = _auto.fit_plan("auto", "auto", candidates, work, n_series=100)
            assert plan["budget"] == budget
            assert plan["work"] <= budget or plan["epochs"] == _auto.MIN_EPOCHS
            assert 1 <= plan["n_networks"] <= _auto.ENSEMBLE_SIZE
            one = plan["epochs"] * work
            search = candidates * (_auto.SEARCH_FOLDS - 1) * one if plan["search"] else 0
            assert plan["work"] == search + plan["n_networks"] * one
    # small data: everything; the ensemble first, then the search if it fits
    plan = _auto.fit_plan("auto", "auto", 2, 1_000, n_series=100)
    assert plan == {"epochs": 80, "n_networks": 5, "search": True, "search_epochs": 80,
                    "work": 2 * 2 * 80_000 + 5 * 80_000, "budget": budget}
    plan = _auto.fit_plan("auto", "auto", 2, budget // 80 // 7, n_series=100)
    assert not plan["search"] and plan["n_networks"] == 5  # 7 of room, 9 needed
    plan = _auto.fit_plan("auto", "auto", 2, budget // 80 // 3, n_series=100)
    assert not plan["search"] and plan["n_networks"] == 3
    # the regressor's search first: the networks have what it leaves
    for work in (1_000, 30_000, 100_000, 300_000):
        for candidates in (2, 4):
            first = _auto.fit_plan("auto", "auto", candidates, work, n_series=100,
                                   search_first=True)
            plain = _auto.fit_plan("auto", "auto", candidates, work, n_series=100)
            assert first["work"] <= budget
            assert first["search"] >= plain["search"]
            assert plain["search_epochs"] in (0, plain["epochs"])  # never shortened
            searched = candidates * (_auto.SEARCH_FOLDS - 1) * first["search_epochs"] * work
            assert first["work"] == searched + first["n_networks"] * first["epochs"] * work
            if plain["search"]:
                assert first == plain  # room for both: nothing changes
    plan = _auto.fit_plan("auto", "auto", 4, budget // 80 // 9, n_series=100,
                          search_first=True)
    assert plan["search"] and plan["n_networks"] == 1  # 8 for the search, 1 left
    plan = _auto.fit_plan("auto", 3, 4, budget // 80 // 9, n_series=100,
                          search_first=True)
    assert not plan["search"] and plan["n_networks"] == 3  # a number is kept
    # where not one network fits beside the search, the search's fits train
    # fewer epochs (half the budget), the networks have the rest
    work = budget // 80 // 4
    plan = _auto.fit_plan("auto", "auto", 4, work, n_series=100, search_first=True)
    assert plan["search"] and plan["epochs"] == 80 and plan["n_networks"] == 2
    assert plan["search_epochs"] == budget // 2 // (4 * 2 * work) == 20
    # a set so large that 10 epochs of the search would leave the network
    # fewer than MIN_NETWORK_EPOCHS: no search, the classifier's plan
    work = budget // 60
    plan = _auto.fit_plan("auto", "auto", 3, work, n_series=500, search_first=True)
    assert plan == _auto.fit_plan("auto", "auto", 3, work, n_series=500)
    assert not plan["search"] and plan["epochs"] == 60
    work = budget // 12
    plan = _auto.fit_plan("auto", "auto", 4, work, n_series=100, search_first=True)
    assert plan == _auto.fit_plan("auto", "auto", 4, work, n_series=100)
    assert not plan["search"] and plan["search_epochs"] == 0 and plan["epochs"] == 12
    # epochs set to a number: the search trains them too, or does not run
    plan = _auto.fit_plan(80, "auto", 4, budget // 80 // 4, n_series=100, search_first=True)
    assert not plan["search"]
    # numbers are kept as set, even over the budget
    plan = _auto.fit_plan(200, 7, 0, budget, n_series=100)
    assert (plan["epochs"], plan["n_networks"]) == (200, 7) and plan["work"] > budget
    # no search for a few series, or in partial_fit, which trains one network
    assert not _auto.fit_plan("auto", "auto", 2, 1_000, n_series=5)["search"]
    partial = _auto.fit_plan("auto", "auto", 2, 1_000, n_series=100, partial=True)
    assert not partial["search"] and partial["n_networks"] == 1


def test_search_grid():
    grid = _auto.search_grid("auto", "auto", 2, (1, 2), text=False, typical=100)
    assert grid == {"conv_dilations": [(1,), (1, 2)], "input_differences": [0, 1, 2]}
    assert _auto.search_grid("auto", "auto", 2, (1, 2), text=True, typical=100) == {
        "conv_dilations": [(1,), (1, 2)]
    }
    # nothing to choose: no front-end, or one dilation only, or fixed values
    assert _auto.search_grid("auto", 1, 0, (1, 2), text=False, typical=100) == {}
    assert _auto.search_grid("auto", 1, 2, (1,), text=False, typical=100) == {}
    assert _auto.search_grid((1, 2), 0, 2, (1, 2), text=False, typical=100) == {}


def test_inner_search_keeps_the_first_of_equal_scores(capsys):
    X, y = np.zeros((12, 1)), np.arange(12) % 2
    cv = KFold(3)
    # every strategy scores alike on balanced classes: the first is kept
    tie = inner_search(
        DummyClassifier(), {"strategy": ["most_frequent", "prior"]}, X, y, cv=cv
    )
    assert tie["best_params"] == {"strategy": "most_frequent"}
    assert tie["params"] == [{"strategy": "most_frequent"}, {"strategy": "prior"}]
    # a better candidate wins wherever it is; verbose prints the scores
    y = np.array([1, 1, 0] * 4)
    best = inner_search(
        DummyClassifier(),
        {"strategy": ["constant"], "constant": [0, 1]},
        X, y, cv=KFold(3), verbose=1,
    )
    assert best["best_params"] == {"constant": 1, "strategy": "constant"}
    np.testing.assert_allclose(best["mean_test_score"], [1 / 3, 2 / 3])
    out = capsys.readouterr().out
    assert "inner search, 3 folds" in out
    assert "constant=1, strategy='constant': score 0.6667" in out
    assert "chosen: constant=1, strategy='constant'" in out


def test_the_search_keeps_the_simplest_within_the_folds_noise():
    # folds' scores of three candidates (higher is better)
    noisy_win = np.array([[0.70, 0.80, 0.75], [0.90, 0.70, 0.80]])  # +0.05 +- 0.09
    assert best_beyond_noise(noisy_win, 2) == 0
    assert best_beyond_noise(noisy_win, 0) == 1  # GridSearchCV's choice
    steady_win = np.array([[0.70, 0.80, 0.75], [0.75, 0.84, 0.80]])
    assert best_beyond_noise(steady_win, 2) == 1
    # the best mean among those beyond the noise; the first of equal ones
    scores = np.array([[0.5, 0.5, 0.5], [0.9, 0.5, 0.9], [0.6, 0.6, 0.6], [0.6, 0.6, 0.6]])
    assert best_beyond_noise(scores, 2) == 2
    assert best_beyond_noise(np.array([[0.5], [0.6]]), 2) == 1  # one fold: no spread
    assert best_beyond_noise(np.array([[0.5, 0.5], [0.5, 0.5]]), 0) == 0
    # the regressor's search keeps the network alone within the noise; the
    # classifier's takes the best mean
    assert SequenceRegressor._search_noise_se == _auto.REGRESSION_SEARCH_NOISE_SE == 2
    assert SequenceClassifier._search_noise_se == 0


def test_the_regressors_search_judges_the_noise_on_ratios_of_errors():
    # R² of the network alone and of a path on the same three folds (a
    # regressor's search on mixture spectra): the network failed on one
    # fold, and on R² the spread of the differences hides a gain on every
    # fold; as log ratios of the folds' squared errors it is beyond the noise
    failed_fold = np.array([[-0.157, 0.710, 0.778], [0.929, 0.916, 0.952]])
    assert best_beyond_noise(failed_fold, 2) == 0
    assert best_beyond_noise(failed_fold, 2, log_error=True) == 1
    # gains within the noise stay within it: a path that loses two folds of
    # three (CardanoSentiment's) and one that wins by a hair on each
    mixed = np.array([[0.195, -1.086, -0.027], [0.086, -1.089, -0.191]])
    assert best_beyond_noise(mixed, 2, log_error=True) == 0
    close = np.array([[0.9996, 0.9998, 0.9997], [0.9998, 0.9996, 0.9998]])
    assert best_beyond_noise(close, 2, log_error=True) == 0
    # an exact fit (R² 1) does not divide by zero
    assert best_beyond_noise(np.array([[0.5, 0.6, 0.5], [1.0, 1.0, 1.0]]), 2, True) == 1
    assert SequenceRegressor._search_log_error and not SequenceClassifier._search_log_error



def test_the_sequential_search_chooses_one_parameter_after_the_other():
    from sklearn.linear_model import LogisticRegression

    from sklstm._search import n_candidates

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    grid = {"C": [0.001, 1.0, 100.0], "fit_intercept": [True, False]}
    cv = KFold(3, shuffle=True, random_state=0)
    full = inner_search(LogisticRegression(), grid, X, y, cv=cv)
    steps = inner_search(LogisticRegression(), grid, X, y, cv=cv, sequential=True)
    assert n_candidates(grid) == 6 and n_candidates(grid, sequential=True) == 4
    assert len(steps["params"]) == 4
    # first C with the first fit_intercept, then fit_intercept with the C chosen
    assert [p["fit_intercept"] for p in steps["params"]] == [True, True, True, False]
    assert [p["C"] for p in steps["params"][:3]] == grid["C"]
    assert steps["params"][3]["C"] == steps["params"][
        int(np.argmax(steps["mean_test_score"][:3]))
    ]["C"]
    # the same folds: each candidate scores what it scores in the full grid
    for params, scores in zip(steps["params"], steps["split_test_scores"]):
        np.testing.assert_allclose(scores, full["split_test_scores"][full["params"].index(params)])
    assert steps["best_params"] in steps["params"]
    assert SequenceRegressor._sequential_search and not SequenceClassifier._sequential_search


def test_verbose_says_when_the_noise_rule_keeps_the_simplest(capsys):
    # constant 1 wins one fold by far and loses two: a better mean (5/9
    # against 4/9), not beyond the folds' noise
    X, y = np.zeros((9, 1)), np.array([1, 1, 1, 1, 0, 0, 1, 0, 0])
    grid = {"strategy": ["constant"], "constant": [0, 1]}
    plain = inner_search(DummyClassifier(), grid, X, y, cv=KFold(3), verbose=1)
    careful = inner_search(DummyClassifier(), grid, X, y, cv=KFold(3), verbose=1,
                           noise_se=2)
    np.testing.assert_allclose(careful["split_test_scores"], plain["split_test_scores"])
    assert plain["best_params"] != careful["best_params"] == grid_first(grid)
    out = capsys.readouterr().out
    assert "does not beat it beyond 2 standard errors" in out


def grid_first(grid):
    from sklearn.model_selection import ParameterGrid

    return list(ParameterGrid(grid))[0]


def test_the_inner_search_is_visible_on_the_fitted_estimator(capsys):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(24, 30, 1))
    y = np.arange(24) % 2
    X[y == 1, 5:10] += 1
    clf = SequenceClassifier(
        num_hidden=4, max_epochs=2, input_differences="auto", n_networks=1,
        crop_fraction=1.0, random_state=0, verbose=1,
    ).fit(X, y)
    search = clf.auto_search_
    assert search["params"] == [{"input_differences": d} for d in (0, 1, 2)]
    assert search["mean_test_score"].shape == search["std_test_score"].shape == (3,)
    assert clf.input_differences_ == search["best_params"]["input_differences"]
    assert search["split_test_scores"].shape == (3, 3)
    np.testing.assert_allclose(search["split_test_scores"].mean(axis=1),
                               search["mean_test_score"])
    assert search["best_params"] == search["params"][
        int(np.argmax(search["mean_test_score"]))
    ]
    assert "[SequenceClassifier] inner search" in capsys.readouterr().out
    # no search, nothing recorded: a fixed value, or too much data
    fixed = SequenceRegressor(
        num_hidden=4, max_epochs=1, summary_points=0, per_sequence_features=False,
        random_state=0,
    ).fit(X, y * 1.0)
    assert fixed.auto_search_ is None


def test_fit_plan_counts_the_inputs_the_network_reads():
    # eight features, their differences and two per-sequence copies of each:
    # 32 inputs, twice the front-end's cost of up to 16
    X = np.random.RandomState(0).normal(size=(30, 40, 8))
    y = X[:, :, 0].mean(axis=1)
    reg = SequenceRegressor(
        num_hidden=4, max_epochs=1, n_networks=1, summary_points=0, conv_layers=1,
        input_differences=1, per_sequence_features=True, random_state=0,
    ).fit(X, y)
    n_inputs = reg.net_.module_.inputs.n_outputs
    assert n_inputs == 32
    assert reg.fit_plan_["work"] == _auto.epoch_work(
        30, 40, n_features=n_inputs, n_conv_layers=1, num_hidden=4
    )


def test_fit_plan_counts_the_networks_trained_where_no_search_runs():
    # per_sequence_features="auto" counts the copies for the search's
    # candidates; with too few series for the search, the network trained
    # reads the eight features alone, and the plan counts those
    X = np.random.RandomState(0).normal(size=(5, 40, 8))
    y = X[:, :, 0].mean(axis=1)
    reg = SequenceRegressor(
        num_hidden=4, max_epochs=1, n_networks=1, summary_points=0, conv_layers=1,
        random_state=0,
    ).fit(X, y)
    assert not reg.fit_plan_["search"] and not reg.per_sequence_features_
    assert reg.net_.module_.inputs.n_outputs == 8
    assert reg.fit_plan_["work"] == _auto.epoch_work(
        5, 40, n_features=8, n_conv_layers=1, num_hidden=4
    )


def test_shortened_search_fits_train_fewer_epochs_in_smaller_batches(monkeypatch):
    # a plan whose search's fits train 10 epochs and its network 20 (a long
    # set's, as fit_plan makes it for the regressor): the fits take batches
    # of 64 * 10 / 80 = 8, about the steps of a network of 80 epochs
    from sklstm import _numeric_input
    from sklstm.datasets import make_band_spectra

    X, y = make_band_spectra(n_samples=60, n_steps=40, random_state=0)
    plan = {"epochs": 20, "n_networks": 1, "search": True, "search_epochs": 10,
            "work": 1, "budget": _auto.FIT_BUDGET}
    real_plan = _auto.fit_plan
    monkeypatch.setattr(  # the search's own fits (10 epochs, set) plan as usual
        _auto, "fit_plan",
        lambda max_epochs, *a, **k: dict(plan) if max_epochs == "auto"
        else real_plan(max_epochs, *a, **k),
    )
    seen = []
    real = _numeric_input.inner_search

    def spy(estimator, grid, *args, **kwargs):
        seen.append(estimator.get_params())
        return real(estimator, grid, *args, **kwargs)

    monkeypatch.setattr(_numeric_input, "inner_search", spy)
    reg = SequenceRegressor(num_hidden=4, random_state=0).fit(X, y)
    assert [(p["max_epochs"], p["batch_size"]) for p in seen] == [(10, 8)]
    assert len(reg.history_) == 20 and reg.fit_plan_["search_epochs"] == 10
    assert _auto.search_batch_size(64, 20, 20, 40) == 64


def test_fit_plan_counts_auto_differences_as_the_widest_candidate(monkeypatch):
    # input_differences="auto" chooses among 0, 1 and 2: the plan counts
    # the search's fits and the networks as reading 8 features and both
    # orders of their differences, 24 inputs
    seen = []
    real_plan = _auto.fit_plan

    def recording_plan(max_epochs, n_networks, n_candidates, work, **kwargs):
        seen.append((n_candidates, work))
        return real_plan(max_epochs, n_networks, n_candidates, work, **kwargs)

    monkeypatch.setattr(_auto, "fit_plan", recording_plan)
    X = np.random.RandomState(0).normal(size=(30, 40, 8))
    y = np.arange(30) % 2
    clf = SequenceClassifier(
        num_hidden=4, max_epochs=1, n_networks=1, conv_layers=1, conv_dilations=(1,),
        input_differences="auto", random_state=0,
    ).fit(X, y)
    widest = _auto.epoch_work(30, 40, n_features=24, n_conv_layers=1, num_hidden=4)
    assert seen[0] == (3, widest)
    assert clf.fit_plan_["search"] and clf.input_differences_ in (0, 1, 2)


def test_the_regressor_hands_its_noise_rule_to_the_search(monkeypatch):
    # the regressor's inner search runs with the noise rule on log(1 - R²):
    # what it hands inner_search, not only its class attributes
    import sklstm._numeric_input

    seen = []

    def recording_search(estimator, grid, X, y, **kwargs):
        seen.append((kwargs["noise_se"], kwargs["log_error"]))
        first = {name: values[0] for name, values in grid.items()}
        return {"params": [first], "mean_test_score": np.zeros(1),
                "std_test_score": np.zeros(1), "split_test_scores": np.zeros((1, 3)),
                "best_params": first}

    monkeypatch.setattr(sklstm._numeric_input, "inner_search", recording_search)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 12, 1))
    SequenceRegressor(n_networks=1, max_epochs=1, random_state=0).fit(X, X.sum(axis=(1, 2)))
    assert seen == [(2.0, True)]
