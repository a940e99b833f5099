"""Moving a trainer's arrays between the host and a device, and copying it.

A trainer pickles on the host (a model trained on a GPU loads on a machine
without one) and moves back where training resumes; its arrays sit in lists,
tuples, dicts and the optimizers' state.
"""

import copy

from ._backend import is_array_api_obj, to_namespace, to_numpy
from ._ops.optim import SGD, Adam

__all__ = ["shallow_copy", "to_device", "to_host"]


def shallow_copy(obj):
    """``obj``'s attributes in a new object of its class. Not copy.copy, which
    goes through ``__getstate__``: the trainer's moves every array to the host,
    the optimizers' drop their namespace."""
    twin = object.__new__(type(obj))
    vars(twin).update(vars(obj))
    return twin


def _map_arrays(value, convert):
    """``value`` with every array in it (in lists, tuples, dicts, optimizer
    state) replaced by ``convert(array)``."""
    if isinstance(value, type):  # a dtype such as numpy.float64, not an array
        return value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(_map_arrays(v, convert) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_map_arrays(v, convert) for v in value)
    if isinstance(value, dict):
        return {k: _map_arrays(v, convert) for k, v in value.items()}
    if is_array_api_obj(value):
        return convert(value)
    if isinstance(value, (SGD, Adam)):
        moved = copy.copy(value)
        vars(moved).update(
            {k: _map_arrays(v, convert) for k, v in vars(value).items() if k != "xp"}
        )
        return moved
    return value


def to_host(value):
    return _map_arrays(value, to_numpy)


def to_device(value, xp, dev):
    return _map_arrays(value, lambda a: to_namespace(a, xp, dev))
