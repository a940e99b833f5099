"""Progress of long loops for ``verbose`` estimators.

A tqdm bar (on stderr) when tqdm is installed, log lines (on stdout)
otherwise; nothing at all when ``verbose`` is 0. tqdm is optional.
"""

__all__ = ["Progress"]


def _tqdm():
    """tqdm's bar class, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Counts the steps of a loop and reports them.

    Parameters
    ----------
    verbose : int
        0: report nothing.
    total : int
        Steps expected (layers, samples, epochs).
    description : str
        What runs, e.g. "transform".
    unit : str
        What a step counts, e.g. "samples".

    Use as a context manager, calling :meth:`step` after each step.
    """

    def __init__(self, verbose, total, description, unit):
        self.verbose = bool(verbose)
        self.total, self.description, self.unit = total, description, unit
        self.done = 0
        bar = _tqdm() if self.verbose else None
        self._bar = (
            None
            if bar is None
            else bar(total=total, desc=f"[CKN] {description}", unit=f" {unit}")
        )

    def step(self, count=1, message=None):
        """``count`` more steps done; ``message`` says what the last one gave.

        As a log line, ``message`` replaces the default "done/total" line.
        """
        if not self.verbose:
            return
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
            if message:
                self._bar.set_postfix_str(message, refresh=True)
        elif message:
            print(message)
        else:
            print(f"[CKN] {self.description}: {self.done}/{self.total} {self.unit}")

    def close(self):
        if self._bar is not None:
            self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
