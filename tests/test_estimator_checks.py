"""scikit-learn's own estimator checks, every one of them, on the default instances too.

Every check passes but one, which sample_weight brings and no estimator that
samples its data at random can pass (CLASSIFIER_XFAILS below says why).
The default instances first, as a user constructs them: check_estimator feeds
1-D signals of 1 to 10 features and as few as 30 samples, from which a layer
cannot learn more filters than there are distinct patches, so the default
(32, 128) learns fewer, with a warning. Then small networks of every kind;
those classifiers run a few epochs only.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ckn import CKNClassifier, CKNFeatureExtractor, LinearHeadClassifier

ESTIMATORS = [
    CKNFeatureExtractor(),
    CKNClassifier(),
    CKNFeatureExtractor(n_filters=(4, 6), random_state=0),
    CKNFeatureExtractor(n_filters=(4, 6), whitening="images", random_state=0),
    CKNFeatureExtractor(n_filters=(4, 6), whitening="patches", random_state=0),
    CKNClassifier(n_filters=(4, 6), max_iter=5, random_state=0),
    CKNClassifier(n_filters=(4, 6), max_iter=5, loss="log_loss", random_state=0),
    LinearHeadClassifier(),
    LinearHeadClassifier(loss="squared_hinge"),
]


#: what the classifier cannot meet, and why
CLASSIFIER_XFAILS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the unsupervised start samples patches at random from the images: "
        "repeated (and reshuffled) samples draw other patches, so the k-means "
        "filters differ, as KMeans's centroids do (scikit-learn expects the same "
        "failure of KMeans, SGDClassifier and RandomForestClassifier). "
        "tests/test_sample_weight.py shows the equivalence where it holds: the "
        "objective and gradients, and full-batch training from given filters."
    )
}


def _expected_failures(estimator):
    return CLASSIFIER_XFAILS if isinstance(estimator, CKNClassifier) else {}


# the small classifiers stop after max_iter=5 epochs on purpose (the checks
# fit dozens of times): their ConvergenceWarning is expected here; so is the
# default instances' warning that the checks' tiny data hold fewer distinct
# patches than the filters asked for (tests/test_bad_input.py asserts it)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings(
    "ignore:Layer \\d+ asks for n_filters=\\d+, but only:UserWarning"
)
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_the_expected_failure_is_documented_for_users():
    """docs/reliability.md tells users which check to expect failing, and why."""
    from pathlib import Path

    doc = (
        Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
    ).read_text(encoding="utf-8")
    for check in CLASSIFIER_XFAILS:
        assert f'expected_failed_checks={{"{check}"' in doc
