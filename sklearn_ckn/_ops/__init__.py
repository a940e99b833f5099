"""The pure array functions of a CKN, written against the array API standard.

Kernels (``kernels``), patches and their adjoints (``patches``), Gaussian
pooling (``pooling``), the Nyström map M and its derivative (``lintrans``),
Winograd convolutions (``winograd``), spherical k-means (``kmeans``),
L-BFGS (``lbfgs``), the head's losses and convex fit (``head``,
``head_fit``, ``preconditioner``), optimizers on the sphere (``optim``)
and ZCA whitening (``whitening``). They know nothing of layers, networks or
estimators: :mod:`sklearn_ckn._layer` and :mod:`sklearn_ckn._network` build
on them, the estimators on those.
"""
