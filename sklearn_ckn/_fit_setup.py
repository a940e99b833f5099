"""What a fit resolves before it learns anything: the input's maps, shape
and namespace, and the layers' specifications and shapes."""

from dataclasses import dataclass

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
