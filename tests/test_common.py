"""scikit-learn's common estimator checks on every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklstm import SequenceClassifier

# small, fast settings; no check is expected to fail
ESTIMATORS = [
    SequenceClassifier(num_hidden=8, max_epochs=30, batch_size=16, lr=0.03, random_state=0),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: {})
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
