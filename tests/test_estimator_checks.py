"""scikit-learn's own estimator checks, every one of them, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ckn import CKNFeatureExtractor


def _small_extractor():
    # check_estimator feeds 1-D signals of 1 to 10 features and as few as 30
    # samples: a network with a few filters per layer can learn from that,
    # the default (32, 128) needs more distinct patches than such data has.
    return CKNFeatureExtractor(n_filters=(4, 6), random_state=0)


@parametrize_with_checks([_small_extractor()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
