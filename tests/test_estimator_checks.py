"""scikit-learn's own estimator checks, every one of them, on the default instances too.

Every check passes, with no expected failure: the sample-weight equivalence
checks too, since a classifier's fit depends on its rows only as a weighted
set (tests/test_sample_weight.py). The default instances first, as a user
constructs them: check_estimator feeds 1-D signals of 1 to 10 features and
as few as 30 samples, from which a layer cannot learn more filters than
there are distinct patches, so the default (32, 128) learns fewer, with a
warning. Then small networks of every kind; those classifiers run a few
epochs only.
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


# the small classifiers stop after max_iter=5 epochs on purpose (the checks
# fit dozens of times): their ConvergenceWarning is expected here; so is the
# default instances' warning that the checks' tiny data hold fewer distinct
# patches than the filters asked for (tests/test_bad_input.py asserts it)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings(
    "ignore:Layer \\d+ asks for n_filters=\\d+, but only:UserWarning"
)
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
