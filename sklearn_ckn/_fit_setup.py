"""What a fit resolves before it learns anything: the input's maps, shape
and namespace, the layers' specifications and shapes, and which samples the
unsupervised parts learn from."""

from dataclasses import dataclass

from ._network import take_rows

__all__ = ["FitSetup"]


@dataclass(frozen=True)
class FitSetup:
    """Everything a fit resolves before learning anything."""

    maps: object
    shape: tuple
    feature_names: object
    whitening: object
    channel_axis: object
    n_channels: int
    specs: list
    shapes: list
    xp: object
    dev: object
    dtype: object
    #: host indices of the samples the unsupervised parts learn from (None:
    #: all of them)
    learn_rows: object = None

    def learning_maps(self):
        """The maps the whitening and the k-means learn from."""
        if self.learn_rows is None:
            return self.maps
        return take_rows(self.maps, self.learn_rows)
