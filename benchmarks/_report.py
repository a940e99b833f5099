"""Shared by the benchmark scripts: describe the machine, print and append tables."""

import os
import platform
import sys
from datetime import datetime, timezone


def machine_description():
    """Cores, CPU, BLAS (via threadpoolctl) and library versions, as Markdown lines."""
    import numpy
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import sklearn_ckn

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                line.split(":", 1)[1].strip() for line in f if "model name" in line
            )
    except (OSError, StopIteration):
        pass
    blas = [
        f"{info.get('internal_api')} {info.get('version')} "
        f"({info.get('architecture')}, {info.get('num_threads')} threads)"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    return [
        f"- machine: {os.cpu_count()} cores, {cpu}",
        f"- BLAS: {'; '.join(blas) or 'unknown'}",
        f"- Python {platform.python_version()}, NumPy {numpy.__version__}, "
        f"SciPy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"sklearn-ckn {sklearn_ckn.__version__}",
    ]


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def report(title, header, rows, notes=(), append_to=None):
    """Print the table; append it with the machine and the command to a file."""
    table = markdown_table(header, rows)
    print("\n".join(table))
    if append_to is None:
        return
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    block = [
        "",
        f"## {title} ({date})",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        *machine_description(),
        "",
        *table,
        "",
        *notes,
    ]
    with open(append_to, "a") as f:
        f.write("\n".join(block).rstrip() + "\n")
