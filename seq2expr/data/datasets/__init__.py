"""The registered data sets, one module each: importing this package imports every module in it, and each registers
its entry (files, loader, subsets, construct, scorer) with :func:`~seq2expr.data.remote.register_dataset`. A new data
set is a new module here (or, in another package, a module named in a ``seq2expr.datasets`` entry point)."""

from seq2expr.plugins import discover

MODULES = discover(__name__, __path__)
