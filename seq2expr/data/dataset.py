"""Batches straight from uint8 codes: one fancy-index gather per batch, one-hot on the fly, augmentation.

A per-item Dataset would call ``__getitem__`` B times per batch and collate B small tensors; here the
sampler yields whole batches of indices, so a batch is one ``codes[idx]`` read from the memmap plus one
``one_hot`` call. Shuffling and augmentation draw from generators seeded by ``(seed, epoch, batch)``, so
a loader replays exactly for a given seed, with any number of workers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from seq2expr.data.sequences import N_CODE, Segments, one_hot, reverse_complement_onehot


def shift_codes(codes: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each row of ``(B, L)`` codes right by ``shifts[i]`` (negative: left), filling with N."""
    B, L = codes.shape
    src = np.arange(L)[None, :] - np.asarray(shifts)[:, None]
    inside = (src >= 0) & (src < L)
    out = np.take_along_axis(codes, np.clip(src, 0, L - 1), axis=1)
    out[~inside] = N_CODE
    return out


class Rows:
    """Rows ``idx`` of a ``(N, ...)`` array (a memmap), read a slice at a time: ``Rows(codes, idx)[a:b]`` is
    ``codes[idx[a:b]]``. Lets prediction run over a split of a memmapped data set without copying the split."""

    def __init__(self, array: np.ndarray, idx: np.ndarray):
        self.array = array
        self.idx = np.asarray(idx, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.idx)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.idx), *self.array.shape[1:])

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def __getitem__(self, key: slice) -> np.ndarray:
        return np.asarray(self.array[self.idx[key]])


def process_group() -> tuple[int, int]:
    """``(rank, world size)`` of this process in an initialised ``torch.distributed`` group, else ``(0, 1)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class BatchIndexSampler(Sampler):
    """Yields ``(epoch, batch_number, indices)``: whole batches, reshuffled per epoch from ``seed``.

    With ``distributed`` under ``torch.distributed`` (DDP) each process takes every ``world``-th batch of the
    same shuffled order (batch ``b`` goes to rank ``b % world``), so the processes together see each row once
    per epoch with the augmentation draws of a single-process run. With ``pad`` (training) every rank gets the
    same number of batches, the short ones repeating the first batches; without (evaluation) no row repeats.
    """

    def __init__(self, indices: np.ndarray, batch_size: int, shuffle: bool, seed: int, drop_last: bool,
                 distributed: bool = False, pad: bool = False):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.distributed = distributed
        self.pad = pad
        self.epoch = 0

    def _n_batches(self) -> int:
        n = len(self.indices)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _mine(self) -> list[int]:
        """The batch numbers this process reads."""
        total = self._n_batches()
        rank, world = process_group() if self.distributed else (0, 1)
        if world == 1:
            return list(range(total))
        if self.pad:
            return [(k * world + rank) % total for k in range(-(-total // world))] if total else []
        return list(range(rank, total, world))

    def __len__(self) -> int:
        return len(self._mine())

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        idx = self.indices
        if self.shuffle:
            idx = idx[np.random.default_rng([self.seed, epoch]).permutation(len(idx))]
        for b in self._mine():
            yield epoch, b, idx[b * self.batch_size:(b + 1) * self.batch_size]


class CodesBatchDataset(Dataset):
    """Maps a batch key from :class:`BatchIndexSampler` to ``(x (B, 4, L) float32, y (B, T) float32)``."""

    def __init__(self, codes: np.ndarray, targets: np.ndarray | None, *, n_value: float = 0.0,
                 rc_augment: bool = False, shift: int = 0, seed: int = 0, segments: Segments | None = None):
        self.codes = codes
        self._codes_file = getattr(codes, "filename", None) if isinstance(codes, np.memmap) else None
        self.targets = (np.zeros((len(codes), 0), np.float32) if targets is None
                        else np.asarray(targets, dtype=np.float32).reshape(len(codes), -1))
        self.n_value = n_value
        self.rc_augment = rc_augment
        self.shift = int(shift)
        self.seed = seed
        self.segments = segments

    def __getstate__(self) -> dict:
        # workers reopen the memmap instead of receiving a pickled copy of the whole array
        state = dict(self.__dict__)
        if self._codes_file is not None:
            state["codes"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.codes is None:
            self.codes = np.load(self._codes_file, mmap_mode="r")

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, key: tuple[int, int, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, batch, idx = key
        order = np.argsort(idx, kind="stable")  # sorted reads are faster on a memmap
        codes = np.empty((len(idx), self.codes.shape[1]), dtype=np.uint8)
        codes[order] = self.codes[idx[order]]
        if self.shift or self.rc_augment:
            rng = np.random.default_rng([self.seed, epoch, batch])
        if self.shift:
            codes = shift_codes(codes, rng.integers(-self.shift, self.shift + 1, size=len(idx)))
        x = one_hot(codes, self.n_value)
        if self.rc_augment:
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            if flip.any():
                x[flip] = reverse_complement_onehot(x[flip], self.segments)
        y = torch.from_numpy(np.ascontiguousarray(self.targets[idx]))
        return x, y


def make_loader(codes: np.ndarray, targets: np.ndarray | None, indices: np.ndarray, *, batch_size: int,
                shuffle: bool, seed: int = 0, n_value: float = 0.0, rc_augment: bool = False, shift: int = 0,
                drop_last: bool = False, num_workers: int = 0, distributed: bool = False,
                segments: Segments | None = None) -> DataLoader:
    """DataLoader over rows ``indices`` yielding ``(x (B, 4, L) float32, y (B, T) float32)`` batches.

    ``rc_augment`` reverse-complements a random half of each batch (an input of several ``segments``, e.g.
    ``dual``'s promoter | spacer | distal, one segment at a time in place: the order is kept); ``shift`` moves
    each sequence by up to that many bases (N fill). Evaluation loaders: ``shuffle=False``, no augmentation, rows
    in order.
    ``distributed``: under DDP each process reads its share of the batches (see :class:`BatchIndexSampler`).
    """
    dataset = CodesBatchDataset(codes, targets, n_value=n_value, rc_augment=rc_augment, shift=shift, seed=seed,
                                segments=segments)
    sampler = BatchIndexSampler(indices, batch_size, shuffle, seed, drop_last, distributed=distributed, pad=shuffle)
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers,
                      persistent_workers=num_workers > 0)
