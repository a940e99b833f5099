"""Digits with CKN features: a CKNFeatureExtractor + linear SVM pipeline against
an RBF SVC tuned on raw pixels, on the same stratified 50/50 split.

Run: ``python examples/digits_demo.py``
"""

import time

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from sklearn_ckn import CKNFeatureExtractor

X, y = load_digits(return_X_y=True)  # 1797 images of 8x8 pixels, one per row
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)

models = {
    "RBF SVC on pixels (C, gamma tuned by 3-fold CV)": GridSearchCV(
        SVC(kernel="rbf"), {"C": [1, 10, 100], "gamma": [1e-4, 3e-4, 1e-3, 3e-3]}, cv=3
    ),
    "CKN (32, 128 filters) + LinearSVC": make_pipeline(
        CKNFeatureExtractor(n_filters=(32, 128), image_shape=(8, 8), random_state=0),
        StandardScaler(),
        LinearSVC(C=0.1),
    ),
}

print(f"digits: {len(X_train)} training and {len(X_test)} test images\n")
print(f"{'model':<50} {'accuracy':>8} {'seconds':>8}")
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    accuracy = model.score(X_test, y_test)
    print(f"{name:<50} {accuracy:>8.4f} {time.perf_counter() - start:>8.2f}")

ckn = models["CKN (32, 128 filters) + LinearSVC"][0]
print(
    f"\nCKN filters per layer: {[w.shape for w in ckn.filters_]}; "
    f"features per image: {ckn.get_feature_names_out().size} "
    f"(map {ckn.output_shape_}, flattened filter-major)"
)
