"""Shared toy models and data for the oracle and learning tests (tangermeme's ``_toy_models`` role): sequences and
one-hot batches, a linear model with known weights (whose every output has a closed form), a branchy network that
exercises every fast-ISM rule, a planted-motif task and the plain training loop a model must learn it with."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seq2expr.data.sequences import one_hot
from seq2expr.models import build_model

BASES = np.array(list("ACGT"))
MOTIF = "TGACTCA"


def random_seqs(n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` uniform random ACGT sequences of ``length``."""
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(BASES, length)) for _ in range(n)]


def onehot(seqs: list[str], n_value: float = 0.25) -> np.ndarray:
    """One-hot ``(N, 4, L)`` float32 of equal-length sequences, written out by hand (the oracle of the encoder);
    an ``N`` is ``n_value`` in every channel."""
    x = np.zeros((len(seqs), 4, len(seqs[0])), np.float32)
    for i, s in enumerate(seqs):
        for j, b in enumerate(s.upper()):
            if b == "N":
                x[i, :, j] = n_value
            else:
                x[i, "ACGT".index(b), j] = 1
    return x


def random_onehot(n: int, length: int, seed: int = 0) -> np.ndarray:
    """``n`` random one-hot sequences ``(n, 4, length)`` float32."""
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy()


def linear_weights(length: int, n_targets: int = 1, seed: int = 0) -> torch.Tensor:
    """Gaussian weights ``(n_targets, 4, length)`` of the linear toy model."""
    return torch.tensor(np.random.default_rng(seed).normal(size=(n_targets, 4, length)), dtype=torch.float32)


def linear_model(length: int, n_targets: int = 1, seed: int = 0, bias: float = 0.5) -> nn.Module:
    """The registered ``linear`` model with :func:`linear_weights` and a constant bias, in eval mode: its output
    for one-hot ``x`` is ``einsum('nbl,tbl->nt', x, w) + bias`` exactly."""
    model = build_model("linear", seq_len=length, n_targets=n_targets)
    with torch.no_grad():
        model.weight.copy_(linear_weights(length, n_targets, seed))
        model.conv.bias.fill_(bias)
    return model.eval()


class Branchy(nn.Module):
    """Exercises every fast-ISM rule: explicit padding, conv, BN, pooling, residual add, channel concat,
    functional activations, scalar arithmetic, then a non-local flatten + linear head (input length 40)."""

    def __init__(self, length: int = 40):
        super().__init__()
        self.pad = nn.ConstantPad1d((3, 4), 0.0)
        self.conv1 = nn.Conv1d(4, 12, 8)
        self.bn = nn.BatchNorm1d(12)
        self.act = nn.SiLU()
        self.pool = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(12, 12, 5, padding="same")
        self.conv3 = nn.Conv1d(24, 8, 3, dilation=2, stride=2)
        self.avg = nn.AvgPool1d(3, 1, padding=1)
        self.head = nn.Linear(8 * 8, 3)

    def forward(self, x):
        h = self.pool(self.act(self.bn(self.conv1(self.pad(x)))))
        h = h + torch.relu(self.conv2(h)) * 0.5
        h = torch.cat([h, torch.tanh(h) - 1.0], dim=1)
        h = self.avg(torch.nn.functional.gelu(self.conv3(h)))
        return self.head(h.flatten(1))


def planted_motif_data(n: int = 2000, length: int = 100, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random sequences; half carry :data:`MOTIF` at a random place. Target = presence + N(0, 0.1) noise."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    motif = np.searchsorted(np.frombuffer(b"ACGT", dtype=np.uint8),
                            np.frombuffer(MOTIF.encode(), dtype=np.uint8)).astype(np.uint8)
    has = rng.random(n) < 0.5
    for i in np.flatnonzero(has):
        start = rng.integers(0, length - len(motif) + 1)
        codes[i, start:start + len(motif)] = motif
    y = (has + rng.normal(0, 0.1, n)).astype(np.float32)[:, None]
    return one_hot(codes), torch.from_numpy(y)


def train_plain(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 6, lr: float = 3e-3,
                batch_size: int = 64, seed: int = 0) -> nn.Module:
    """A plain Adam/MSE loop, one thread, seeded: the reference training a model test checks learning with."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(batch_size):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def pearson(model: nn.Module, x: torch.Tensor, y: torch.Tensor, column: int = 0) -> float:
    """Pearson r of the model's output ``column`` against ``y[:, column]``."""
    with torch.no_grad():
        pred = model(x)[:, column].numpy()
    return float(np.corrcoef(pred, y[:, column].numpy())[0, 1])


class TrackToy(nn.Module):
    """A track model: ``(B, 4, L) -> (B, L // bin, n_targets)``, a one-base convolution averaged in bins of ``bin``
    (Enformer's shape at toy size). Its output in bin ``i`` is the mean over the bin's bases of ``W x_p + b``: a
    closed form for every readout of positions."""

    example = None
    head_modules = ("conv",)

    def __init__(self, seq_len: int, n_targets: int = 1, bin: int = 8):
        super().__init__()
        self.conv = nn.Conv1d(4, n_targets, 1)
        self.pool = nn.AvgPool1d(bin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x)).transpose(1, 2)


CNN_PARAMS = {"channels": [8], "kernel_sizes": 5, "pool_sizes": [4], "convs_per_block": 1, "dropout": 0.0,
              "hidden": [8], "head_dropout": 0.0}


def saved_cnn(folder, length: int = 40, seed: int = 0):
    """A registered ``cnn`` with two targets (``a``, ``b``), initialised from torch seed ``seed`` (torch's CPU
    generator gives the same weights on every machine), saved in ``folder`` and loaded back: the pinned tests' model."""
    from seq2expr.inference import ModelSpec, SavedModelConfig, load_model, save_model

    torch.manual_seed(seed)
    net = build_model("cnn", seq_len=length, n_targets=2, **CNN_PARAMS)
    save_model(folder, net, SavedModelConfig(model=ModelSpec(name="cnn", params=CNN_PARAMS, seq_len=length,
                                                             n_targets=2), target_names=["a", "b"]))
    return load_model(folder)
