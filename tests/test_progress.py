"""verbose: progress of k-means per layer, transform batches and training
epochs; a tqdm bar when tqdm is installed, log lines otherwise, nothing at 0."""

import pytest
from sklearn.datasets import load_digits

from sklearn_ckn import CKNFeatureExtractor, _progress

from ._fitting import fit_quietly, small_classifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:100], y[:100]


@pytest.fixture
def without_tqdm(monkeypatch):
    monkeypatch.setattr(_progress, "_tqdm", lambda: None)


def _extractor(verbose):
    return CKNFeatureExtractor(
        n_filters=(3, 4),
        image_shape=(8, 8),
        batch_size=40,
        random_state=0,
        verbose=verbose,
    )


def test_verbose_0_prints_nothing(digits, capsys):
    X, y = digits
    _extractor(0).fit(X).transform(X)
    clf = fit_quietly(small_classifier(max_iter=2, verbose=0), X, y)
    clf.transform(X)
    clf.predict(X)
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ""


def test_log_lines_without_tqdm(digits, capsys, without_tqdm):
    X, y = digits
    ckn = _extractor(1).fit(X)
    out = capsys.readouterr().out
    assert "[CKN] layer 0: spherical k-means, 3 filters" in out
    assert "[CKN] layer 1: spherical k-means, 4 filters" in out
    ckn.transform(X)
    out, err = capsys.readouterr()
    # batches of 40 rows: a line after each
    assert out.splitlines() == [
        "[CKN] transform: 40/100 samples",
        "[CKN] transform: 80/100 samples",
        "[CKN] transform: 100/100 samples",
    ]
    assert err == ""
    fit_quietly(small_classifier(max_iter=3, verbose=1), X, y)
    out = capsys.readouterr().out
    epochs = [line for line in out.splitlines() if line.startswith("Iteration")]
    assert [line.split(",")[0] for line in epochs] == [
        "Iteration 1",
        "Iteration 2",
        "Iteration 3",
    ]
    assert all(float(line.split("= ")[1]) > 0 for line in epochs)


def test_tqdm_bars_when_installed(digits, capsys):
    X, y = digits
    ckn = _extractor(1).fit(X)
    capsys.readouterr()
    ckn.transform(X)
    out, err = capsys.readouterr()
    assert out == ""  # the bar replaces the log lines
    assert "[CKN] transform" in err
    assert "100/100" in err
    fit_quietly(small_classifier(max_iter=2, verbose=1), X, y)
    out, err = capsys.readouterr()
    assert "[CKN] training" in err
    assert "2/2" in err
    assert "loss =" in err  # each epoch's loss shown on the bar


def test_progress_counts_and_closes(capsys, without_tqdm):
    with _progress.Progress(1, 5, "work", "items") as progress:
        progress.step(2)
        progress.step(3)
    assert progress.done == 5
    assert capsys.readouterr().out.splitlines() == [
        "[CKN] work: 2/5 items",
        "[CKN] work: 5/5 items",
    ]
    silent = _progress.Progress(0, 5, "work", "items")
    silent.step(5)
    assert silent.done == 0
    assert capsys.readouterr().out == ""
