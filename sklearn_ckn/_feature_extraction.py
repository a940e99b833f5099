"""CKNFeatureExtractor: unsupervised convolutional kernel network features."""

from sklearn.base import TransformerMixin, _fit_context

from ._base import CKNBase

__all__ = ["CKNFeatureExtractor"]


class CKNFeatureExtractor(TransformerMixin, CKNBase):
    """Convolutional kernel network features, learned without labels.

    Each layer extracts the patches of its input map, responds to a patch x
    with ``nu * kappa(<z_f, x> / nu)`` for each filter z_f (``nu`` the patch
    norm, ``kappa`` a dot-product kernel on the sphere), applies Gaussian
    pooling with subsampling, and maps the p responses at every kept position
    by ``M = (K^{1/2} + eps I)^{-1}``, ``K = kappa(Z Z^T)``: the Nystroem
    approximation of the kernel's feature map (Mairal et al., 2014; Mairal,
    2016). ``fit`` learns each layer's filters in turn by spherical k-means on
    normalized patches sampled at random from the previous layer's output.

    Per-layer parameters take a scalar (the same for every layer) or a
    sequence with one entry per layer; the number of layers is the length of
    ``n_filters`` (or of ``filters``). Patch size and subsampling entries are
    an int (the same along every spatial axis) or a tuple with one value per
    axis, e.g. ``patch_size=((1, 5), 3)``.

    Parameters
    ----------
    n_filters : int or sequence of int, default=(32, 128)
        Number of filters of each layer. A layer that asks for more filters
        than its sampled patches hold distinct non-zero directions (small or
        blank data) learns one filter per distinct patch instead, with a
        warning, as :class:`~sklearn.kernel_approximation.Nystroem` does with
        more components than samples; ``output_shape_`` and ``filters_`` say
        what was learned.
    patch_size : int, tuple or sequence, default=3
        Patch size of each layer.
    subsampling : int, tuple or sequence, default=2
        Gaussian pooling factor of each layer; 1 means no pooling. The pooling
        taps are proportional to exp(-t^2 / s^2), t = -s..s, and the output
        keeps every s-th position: ``(n - 1) // s + 1`` of ``n``.
    kernel : {"exp", "poly", "arccos", "linear"} or sequence, default="exp"
        Dot-product kernel of each layer: ``exp`` is exp((u - 1) / sigma^2),
        the Gaussian kernel on the sphere; ``poly`` is u^2; ``arccos`` the
        degree-1 arc-cosine kernel; ``linear`` is u.
    sigma : float or sequence of float, default=0.6
        Bandwidth of the ``exp`` kernel of each layer (ignored by the others).
    padding : {"same", "valid"} or sequence, default="same"
        ``same`` pads ``k // 2`` zeros on each side (an even ``k`` makes the
        map one larger); ``valid`` pads nothing.
    eps : float, default=1e-2
        Regularization of M = (K^{1/2} + eps I)^{-1}, as in the original CKN.
    image_shape : tuple of int or None, default=None
        Layout of each row of a 2-D ``X``: ``(L,)`` or ``(H, W)`` without
        channels, ``(L, C)`` or ``(H, W, C)`` with ``channel_axis`` naming the
        channel axis. None with 2-D ``X`` means one-channel 1-D signals of
        length ``n_features``. With an image array ``X`` of shape
        (n_samples, \\*image_shape), None takes the array's shape; a given
        value must match it.
    channel_axis : int or None, default=None
        Axis of ``image_shape`` (or of each image) that holds the channels;
        None means single-channel images. As in scikit-image, a 3-axis image
        needs it: ``-1`` for (H, W, C), ``0`` for (C, H, W).
    n_patches : int, default=10000
        Number of patches sampled per layer for k-means (all patches when
        there are fewer). All-zero patches are dropped.
    patch_quantile : float in [0, 1), default=0.0
        k-means learns from the sampled patches whose norm is above this
        quantile of their norms (after the patch whitening, if any): 0 keeps
        every non-zero patch, 0.5 the larger half. A layer's response to a
        patch is its norm times the kernel of its direction, so low-norm
        patches (flat regions, all the more after whitening) weigh little
        in the features, yet once normalized their directions are mostly
        noise and take filters. On CIFAR-10, 0.5 adds about a point of
        validation accuracy (docs/benchmarks.md); on digits, whose flat
        background patches are exactly zero and dropped anyway, it matters
        less.
    filters : list of arrays or None, default=None
        User-given filters, one array per layer in the layout
        (n_filters, in_channels, \\*patch_shape), each filter of unit L2 norm.
        With them ``fit`` learns nothing: it only validates ``X`` and
        computes each layer's map M (the precedent is
        ``SparseCoder(dictionary=...)``). ``n_filters`` and ``patch_size``
        are then taken from the arrays. Use it to load filters learned
        elsewhere, e.g. another model's ``filters_``.
    whitening : {"images", "patches"} or None, default=None
        Whitening learned in ``fit`` and applied to every input. ``"images"``:
        ZCA of whole images, x -> (x - mean) W on each image flattened as
        ``X``'s rows are, with W = V diag(1 / sqrt(e + r)) V^T from the
        eigendecomposition of the training images' covariance and
        r = ``whitening_reg`` times its mean eigenvalue; for images of at
        most 8,192 values. ``"patches"``: each first-layer patch centred on its
        own mean, then the same ZCA, learned from the patches k-means samples;
        the first layer sees its patches so whitened (Mairal et al., 2014):
        its filters, patch norms and responses are those of the whitened
        patches. Natural images (photos,
        CIFAR-10) gain the most: their neighbouring pixels are strongly
        correlated. Learned in ``fit``, the whitening stays inside a
        ``Pipeline``'s cross-validation folds and is pickled with the model.
        None: the images as given.
    whitening_reg : float, default=0.1
        Regularization of the whitening, relative to the covariance's mean
        eigenvalue: larger values amplify the weak (noisy) directions less.
    batch_size : int or None, default=None
        Samples processed at once; None picks it so that a batch's
        intermediate arrays stay within about 256 MiB.
    device : {"auto", "cpu", "cuda"} or "cuda:N", default="auto"
        Where to compute: ``cuda`` uses CuPy on a GPU (and fails when there is
        none), ``cuda:N`` on GPU N (CuPy's and PyTorch's spelling), ``cpu``
        uses NumPy, ``auto`` uses CuPy when a GPU answers. Under
        scikit-learn's ``array_api_dispatch``, non-NumPy inputs are computed
        in their own namespace and on their own device.
    random_state : int, RandomState instance or None, default=None
        Controls patch sampling and the k-means seeding.
    verbose : int, default=0
        0: silent. Positive: report the k-means of each layer during ``fit``
        and the batches of ``transform``, as a progress bar (on stderr) when
        tqdm is installed, as log lines (on stdout) otherwise.

    Attributes
    ----------
    filters_ : list of ndarray
        Filters of each layer, shape (n_filters, in_channels, \\*patch_shape),
        each of unit L2 norm over its in_channels x patch values. NumPy arrays
        (on the host), or arrays of the input's namespace when fitted under
        ``array_api_dispatch``.
    lintrans_ : list of ndarray
        The map M of each layer, shape (n_filters, n_filters).
    image_shape_ : tuple of int
        Per-sample shape of the input as laid out by the user.
    n_channels_in_ : int
        Number of input channels.
    output_shape_ : tuple of int
        Shape (n_filters, \\*spatial) of the last layer's map; ``transform``
        returns it flattened in C order, that is filter-major: feature
        ``f * prod(spatial) + position`` is filter ``f`` at ``position``
        (row-major over the spatial axes).
    n_features_in_ : int
        Number of values per sample (the product of ``image_shape_``).
    whitening_mean_ : ndarray of shape (n_values,) or None
        Mean of what was whitened: the training images, flattened as ``X``'s
        rows are (``n_values = n_features_in_``), or the first layer's
        patches, flattened as a row of ``filters_[0]`` (channel-major,
        ``n_values = in_channels * prod(patch_shape)``); None without
        whitening.
    whitening_matrix_ : ndarray of shape (n_values, n_values) or None
        The whitening matrix: ``whitened = (x - whitening_mean_) @ W``; the
        symmetric ZCA matrix for images, times the projection that centres
        each patch on its own mean (P W, P = I - 1 1^T / n_values) for
        patches.
    feature_names_in_ : ndarray of shape (n_features_in\\_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.kernel_approximation.Nystroem : Nystroem approximation of a kernel
        on whole samples rather than on patches.

    Notes
    -----
    The features' columns differ in scale by an order of magnitude (filters
    that the data's patches come near, positions at the border), and their
    values are small: put a :class:`~sklearn.preprocessing.StandardScaler`
    between this transformer and a linear model. On digits, 5-fold accuracy
    of ``LinearSVC`` goes from 0.941 on the raw features to 0.973, of
    ``LogisticRegression`` from 0.899 to 0.964 (user guide, "Standardize the
    features before a linear model").

    References
    ----------
    .. [1] J. Mairal, P. Koniusz, Z. Harchaoui and C. Schmid. "Convolutional
       Kernel Networks". Advances in Neural Information Processing Systems, 2014.
    .. [2] J. Mairal. "End-to-End Kernel Learning with Supervised Convolutional
       Kernel Networks". Advances in Neural Information Processing Systems, 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_ckn import CKNFeatureExtractor
    >>> X, y = load_digits(return_X_y=True)
    >>> ckn = CKNFeatureExtractor(n_filters=(8, 16), image_shape=(8, 8),
    ...                           random_state=0)
    >>> ckn.fit_transform(X[:100]).shape
    (100, 64)
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the filters of every layer from the images in ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Training images or signals (see ``image_shape``).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted extractor.
        """
        self._fit_network(X)
        return self

    def transform(self, X):
        """Compute the CKN features of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*image_shape)
            Images laid out as at fit time.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            The last layer's map, flattened filter-major; ``n_features_out``
            is the product of ``output_shape_``. float32 for float32 input,
            float64 otherwise.
        """
        return self._transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
