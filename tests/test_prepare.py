"""Encoded cache, target transforms/labels, batch loader and prepare_data end to end."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from seq2expr.config import DataConfig, SplitConfig
from seq2expr.data import cache as cache_mod
from seq2expr.data.cache import cache_path, data_hash, encode_cached, sidecar
from seq2expr.data.dataset import make_loader, shift_codes
from seq2expr.data.errors import DataError
from seq2expr.data.prepare import prepare_data
from seq2expr.data.records import Records
from seq2expr.data.sequences import N_CODE, SequencePolicy, decode, encode, one_hot, reverse_complement_onehot
from seq2expr.data.splits import SPLITS
from seq2expr.data.targets import TargetTransform, make_labels


def _seqs(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(s) for s in rng.choice(list("ACGT"), size=(n, length))]


def _records(seqs: list[str], source: str = "mem.tsv") -> Records:
    y = np.arange(len(seqs), dtype=np.float32)
    return Records(ids=[f"r{i}" for i in range(len(seqs))], sequences=seqs, targets=y, target_names=["y"],
                   source=source, lines=np.arange(2, len(seqs) + 2))


def _write_table(path, seqs, y, extra: dict | None = None) -> None:
    cols = {"id": [f"{path.stem}{i}" for i in range(len(seqs))], "sequence": seqs, "expression": y, **(extra or {})}
    lines = ["\t".join(cols)] + ["\t".join(str(cols[c][i]) for c in cols) for i in range(len(seqs))]
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------ cache


def test_cache_reuses_and_keys_on_policy(tmp_path, monkeypatch):
    rec = _records(_seqs(300, 30))
    codes = encode_cached(rec, SequencePolicy(), cache_dir=tmp_path)
    assert isinstance(codes, np.memmap) and codes.dtype == np.uint8 and codes.shape == (300, 30)
    assert np.array_equal(codes, encode(rec.sequences))
    npy = cache_path(rec, SequencePolicy(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([npy.name, sidecar(npy).name])  # codes + checksum

    def boom(*a, **k):
        raise AssertionError("re-encoded despite a cached file")

    monkeypatch.setattr(cache_mod, "_encode_into", boom)
    again = encode_cached(rec, SequencePolicy(), cache_dir=tmp_path)
    assert np.array_equal(again, codes)
    with pytest.raises(AssertionError, match="re-encoded"):
        encode_cached(rec, SequencePolicy(length=32), cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="re-encoded"):
        encode_cached(rec, SequencePolicy(), cache_dir=tmp_path, key_extra="other columns")
    assert data_hash(rec, SequencePolicy()) != data_hash(rec, SequencePolicy(n_value=0.25))
    changed = _records(_seqs(300, 30, seed=1))
    assert data_hash(changed, SequencePolicy()) != data_hash(rec, SequencePolicy())


def test_cache_chunks_and_names_bad_records(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "CHUNK", 64)
    seqs = _seqs(300, 20)
    rec = _records(seqs)
    codes = encode_cached(rec, SequencePolicy(length=24, pad="left"), cache_dir=tmp_path)
    assert codes.shape == (300, 24) and (np.asarray(codes[:, :4]) == N_CODE).all()
    assert decode(codes[:, 4:]) == seqs
    bad = list(seqs)
    bad[200] = bad[200][:5] + "Z" + bad[200][6:]
    with pytest.raises(DataError) as err:
        encode_cached(_records(bad), SequencePolicy(), cache_dir=tmp_path)
    assert "mem.tsv" in str(err.value) and "line 202 (id r200)" in str(err.value) and "'Z'" in str(err.value)
    ragged = list(seqs)
    ragged[130] = ragged[130][:-1]
    with pytest.raises(DataError) as err:
        encode_cached(_records(ragged), SequencePolicy(), cache_dir=tmp_path)
    assert "id r130" in str(err.value) and "ragged" in str(err.value)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # failed writes leave no temp files


# ------------------------------------------------------------------ targets


@pytest.mark.parametrize("kind", ["none", "log1p", "log2p1", "log10p1"])
@pytest.mark.parametrize("standardize", [False, True])
def test_target_transform_round_trip(kind, standardize):
    y = np.random.default_rng(0).gamma(2.0, 3.0, size=(200, 2)).astype(np.float32)
    t = TargetTransform(kind, standardize).fit(y[:150])
    z = t.apply(y)
    if standardize:
        assert np.allclose(z[:150].mean(0), 0, atol=1e-4) and np.allclose(z[:150].std(0), 1, atol=1e-3)
    assert np.allclose(t.inverse(z), y, rtol=1e-4, atol=1e-4)
    # the differentiable inverse (attributions of original-scale outputs) is the same function
    zt = torch.tensor(z, requires_grad=True)
    back = t.inverse_torch(zt)
    assert back.dtype == zt.dtype and np.array_equal(back.detach().numpy(), t.inverse(z))
    back.sum().backward()
    assert torch.isfinite(zt.grad).all() and (zt.grad > 0).all()  # every inverse is increasing
    t2 = TargetTransform.from_dict(t.to_dict())
    assert np.allclose(t2.apply(y), z)
    if kind != "none":
        with pytest.raises(DataError, match="> -1"):
            t.apply(np.array([[-2.0, 0.0]]))


def test_make_labels_quantiles_and_threshold():
    y = np.arange(100, dtype=np.float32)
    labels, keep = make_labels(y, quantiles=(0.25, 0.75))
    assert keep.sum() == 50 and (labels[keep][y[keep] < 50] == 0).all() and (labels[keep][y[keep] > 50] == 1).all()
    labels, keep = make_labels(y, quantiles=(0.5, 0.5), fit_rows=np.arange(20))
    assert keep.all() and labels[y >= 10].all() and not labels[y < 9].any()
    labels, keep = make_labels(y, threshold=89.5)
    assert keep.all() and labels.sum() == 10


# ------------------------------------------------------------------ loader


def test_loader_batches_reproducible_and_complete():
    codes = encode(_seqs(103, 16))
    y = np.arange(103, dtype=np.float32)[:, None]
    idx = np.arange(3, 103)

    def run(seed):
        return list(make_loader(codes, y, idx, batch_size=32, shuffle=True, seed=seed, rc_augment=True, shift=2))

    a, b, c = run(7), run(7), run(8)
    assert [x.shape for x, _ in a] == [(32, 4, 16)] * 3 + [(4, 4, 16)]
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b, strict=True))
    assert not torch.equal(a[0][1], c[0][1])
    seen = torch.cat([yy for _, yy in a])[:, 0].numpy().astype(int)
    assert sorted(seen.tolist()) == idx.tolist()
    loader = make_loader(codes, y, idx, batch_size=32, shuffle=True, seed=7)
    for x, yy in loader:  # each x is the row its y belongs to (targets are row numbers here)
        assert torch.equal(x, one_hot(codes[yy[:, 0].numpy().astype(int)]))
    e1, e2 = (torch.cat([yy for _, yy in loader])[:, 0] for _ in range(2))
    assert not torch.equal(e1, e2)  # a new order each epoch
    ordered = make_loader(codes, y, idx, batch_size=50, shuffle=False)
    x, yy = next(iter(ordered))
    assert torch.equal(x, one_hot(codes[3:53])) and yy[:, 0].tolist() == list(range(3, 53))
    assert len(make_loader(codes, y, idx, batch_size=32, shuffle=True, drop_last=True)) == 3


def test_rc_augmentation_flips_a_random_half():
    codes = encode(_seqs(400, 24, seed=3))
    plain = one_hot(codes)
    rc = reverse_complement_onehot(plain)
    loader = make_loader(codes, None, np.arange(400), batch_size=400, shuffle=False, seed=1, rc_augment=True)
    x, y = next(iter(loader))
    assert y.shape == (400, 0)
    same = (x == plain).flatten(1).all(1)
    flipped = (x == rc).flatten(1).all(1)
    assert bool((same | flipped).all())
    assert 120 < int(flipped.sum()) < 280


def test_shift_fills_with_n():
    codes = encode(["ACGTAC", "ACGTAC"])
    out = shift_codes(codes, np.array([2, -1]))
    assert decode(out) == ["NNACGT", "CGTACN"]


def test_loader_with_worker_reopens_memmap(tmp_path):
    rec = _records(_seqs(64, 12))
    codes = encode_cached(rec, SequencePolicy(), cache_dir=tmp_path)
    loader = make_loader(codes, rec.targets, np.arange(64), batch_size=16, shuffle=False, num_workers=1)
    x = torch.cat([b[0] for b in loader])
    assert torch.equal(x, one_hot(np.array(codes)))


# ------------------------------------------------------------------ prepare_data


def _planted_table(tmp_path, n=400, length=40, name="train.tsv", seed=0, extra=None):
    rng = np.random.default_rng(seed)
    seqs = _seqs(n, length, seed)
    y = np.round(rng.gamma(2.0, 2.0, size=n), 4)
    path = tmp_path / name
    _write_table(path, seqs, y, extra)
    return path, seqs, y


def test_prepare_data_with_test_path_and_transform(tmp_path):
    train, _, y_train = _planted_table(tmp_path)
    test, _, _ = _planted_table(tmp_path, n=50, name="test.tsv", seed=1)
    cfg = DataConfig(path=str(train), test_path=str(test), id_column="id", cache_dir=str(tmp_path / "c"),
                     target={"transform": "log1p", "standardize": True})
    b = prepare_data(cfg)
    assert b.codes.shape == (450, 40) and isinstance(b.codes, np.memmap) and b.seq_len == 40
    assert b.splits["test"].tolist() == list(range(400, 450))
    assert set(b.splits["train"]).isdisjoint(b.splits["valid"]) and len(b.splits["valid"]) == 40
    tr = b.splits["train"]
    assert np.isclose(b.transform.mean[0], np.log1p(y_train[tr]).mean(), atol=1e-4)  # fitted on train rows only
    assert abs(b.targets[tr].mean()) < 1e-4 and abs(b.targets[b.splits["test"]].mean()) > 1e-3
    assert np.allclose(b.transform.inverse(b.targets), b.raw_targets, rtol=1e-4, atol=1e-4)
    assert b.ids[400] == "test0" and len(b.data_hash) == 64
    again = prepare_data(cfg)
    assert again.data_hash == b.data_hash and all(np.array_equal(again.splits[k], b.splits[k]) for k in SPLITS)


def test_prepare_data_with_valid_path(tmp_path):
    """A validation file is the validation split; test rows come from test_path or are drawn from the rest."""
    train, _, _ = _planted_table(tmp_path)
    valid, _, _ = _planted_table(tmp_path, n=60, name="valid.tsv", seed=2)
    test, _, _ = _planted_table(tmp_path, n=50, name="test.tsv", seed=1)
    cfg = DataConfig(path=str(train), valid_path=str(valid), test_path=str(test), id_column="id",
                     cache_dir=str(tmp_path / "c"), target={"standardize": True})
    b = prepare_data(cfg)
    assert b.splits["train"].tolist() == list(range(400)) and b.splits["valid"].tolist() == list(range(400, 460))
    assert b.splits["test"].tolist() == list(range(460, 510)) and b.ids[400] == "valid0" and b.ids[460] == "test0"
    tr = b.splits["train"]
    assert abs(b.targets[tr].mean()) < 1e-4 and abs(b.targets[b.splits["valid"]].mean()) > 1e-3  # fitted on train
    # no test file: the test split is drawn from the training file only, no further validation rows
    split = SplitConfig(method="random", test_fraction=0.25)
    b = prepare_data(cfg.model_copy(update={"test_path": None, "split": split}))
    assert b.splits["valid"].tolist() == list(range(400, 460)) and len(b.splits["test"]) == 100
    assert b.splits["test"].max() < 400 and len(b.splits["train"]) == 300
    with pytest.raises(DataError, match="valid_path"):
        prepare_data(cfg.model_copy(update={"split": SplitConfig(folds=5)}))


def test_prepare_data_errors_name_source(tmp_path):
    train, seqs, y = _planted_table(tmp_path)
    seqs[10] = seqs[10][:20] + "?" + seqs[10][21:]
    _write_table(train, seqs, y)
    with pytest.raises(DataError) as err:
        prepare_data(DataConfig(path=str(train), id_column="id", cache_dir=str(tmp_path / "c")))
    assert str(train) in str(err.value) and "line 12 (id train10)" in str(err.value) and "'?'" in str(err.value)
    with pytest.raises(DataError, match="data.path"):
        prepare_data(DataConfig())


def test_prepare_classification_quantiles_drop_middle(tmp_path):
    train, _, y = _planted_table(tmp_path, n=600)
    cfg = DataConfig(path=str(train), id_column="id", cache_dir=str(tmp_path / "c"),
                     target={"label_quantiles": (0.25, 0.75)}, split={"method": "random"})
    b = prepare_data(cfg, task="classification")
    used = np.concatenate([b.splits[k] for k in SPLITS])
    assert 0.4 < len(used) / 600 < 0.6
    assert set(np.unique(b.targets[used])) == {0.0, 1.0} and np.isnan(np.delete(b.targets, used, axis=0)).all()
    hi = b.splits["train"][b.targets[b.splits["train"], 0] == 1]
    lo = b.splits["train"][b.targets[b.splits["train"], 0] == 0]
    assert b.raw_targets[hi].min() > b.raw_targets[lo].max()
    with pytest.raises(DataError, match="0/1"):
        prepare_data(cfg.model_copy(update={"target": cfg.target.model_copy(update={"label_quantiles": None})}),
                     task="classification")


def test_prepare_from_registry_with_split_column(tmp_path, monkeypatch):
    seqs = _seqs(300, 30, seed=4)
    split = np.where(np.arange(300) < 60, "test", "train")
    rec = Records(ids=[f"q{i}" for i in range(300)], sequences=seqs, targets=np.arange(300, dtype=np.float32),
                  target_names=["expression"], groups={"split": split}, source="registry:toy")
    fake = types.ModuleType("seq2expr.data.registry")
    fake.load_dataset = lambda name: rec if name == "toy" else None
    monkeypatch.setitem(sys.modules, "seq2expr.data.registry", fake)
    b = prepare_data(DataConfig(dataset="toy", cache_dir=str(tmp_path / "c")))
    assert b.splits["test"].tolist() == list(range(60))
    assert len(b.splits["valid"]) == 24 and b.groups["split"][b.splits["valid"]].tolist() == ["train"] * 24


def test_encode_for_a_saved_model_uses_its_policy_and_length():
    from seq2expr.inference import SavedModelConfig, encode_for

    def config(policy: dict, seq_len: int) -> SavedModelConfig:
        return SavedModelConfig(model={"name": "cnn", "seq_len": seq_len}, data={"policy": policy})

    codes = encode_for(config({"length": 10, "pad": "centre"}, 10), ["ACGTACGT", "ACGTACGTACGTAA"])
    assert decode(codes) == ["NACGTACGTN", "ACGTACGTAC"]
    with pytest.raises(DataError, match="in.fa: record x: sequences are 8 bp but the model takes 12 bp"):
        encode_for(config({}, 12), ["ACGTACGT"], ids=["x"], source="in.fa")
