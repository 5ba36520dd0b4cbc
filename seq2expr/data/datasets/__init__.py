"""The registered data sets, one module each: importing a module registers its entry (files, loader, subsets,
construct, scorer) with :mod:`seq2expr.data.registry`. Add a data set by adding a module here."""

from seq2expr.data.datasets import agarwal2025_sample, dream2022, vaishnav2022

__all__ = ["agarwal2025_sample", "dream2022", "vaishnav2022"]
