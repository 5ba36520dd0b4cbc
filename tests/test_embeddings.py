"""k-mer word2vec tables, local DNA language-model embeddings, and the ``lm_cnn`` model trained for real."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from seq2expr.data.sequences import decode, one_hot, reverse_complement_onehot
from seq2expr.embeddings.kmer import KmerEmbedding, kmer_ids, train_kmer_word2vec
from seq2expr.embeddings.lm import DNALanguageModel, LMOptions, embed_sequences, make_tiny_bert
from seq2expr.inference import load_model, save_model
from seq2expr.models.registry import build_model

MOTIF = "TGACTCA"


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models train faster on one thread than on two contended ones (the test machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _naive_ids(row: np.ndarray, k: int) -> list[int]:
    out = []
    for i in range(len(row) - k + 1):
        w = row[i : i + k]
        out.append(4**k if (w > 3).any() else int("".join(str(int(c)) for c in w), 4))
    return out


@pytest.mark.parametrize("k", [1, 3, 5])
def test_kmer_ids_match_naive_loop(k):
    rng = np.random.default_rng(k)
    codes = rng.integers(0, 4, (4, 37)).astype(np.uint8)
    codes[1, [3, 20]] = 4
    want = np.array([_naive_ids(r, k) for r in codes])
    got = kmer_ids(codes, k)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(kmer_ids(torch.from_numpy(codes), k).numpy(), want)


def _genome(seed: int = 0, n: int = 30, length: int = 2000, planted: int = 20) -> list[str]:
    """Random chromosomes with MOTIF planted many times (its k-mers always co-occur)."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n):
        s = list(decode(rng.integers(0, 4, length).astype(np.uint8))[0])
        for pos in rng.choice(length - len(MOTIF), planted, replace=False):
            s[pos : pos + len(MOTIF)] = MOTIF
        seqs.append("".join(s))
    return seqs


def test_word2vec_is_deterministic_and_learns_cooccurrence(tmp_path):
    genome = _genome()
    kw = dict(k=4, vector_size=16, window=3, epochs=5, seed=3)
    a, b = train_kmer_word2vec(genome, **kw), train_kmer_word2vec(genome, **kw)
    np.testing.assert_array_equal(a.table, b.table)
    assert not np.allclose(a.table, train_kmer_word2vec(genome, **{**kw, "seed": 4}).table)
    assert a.table.shape == (4**4 + 1, 16) and not a.table[-1].any()  # N row stays zero

    def cos(u, v):
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    motif_kmers = [MOTIF[i : i + 4] for i in range(len(MOTIF) - 3)]
    inside = [cos(a.vector(x), a.vector(y)) for i, x in enumerate(motif_kmers) for y in motif_kmers[i + 1 :]]
    rng = np.random.default_rng(0)
    others = [x for x in (decode(rng.integers(0, 4, 4).astype(np.uint8))[0] for _ in range(200))
              if x not in motif_kmers]
    random_pairs = [cos(a.vector(x), a.vector(y)) for x, y in zip(others[::2], others[1::2], strict=False)]
    assert np.mean(inside) > np.mean(random_pairs) + 0.3, (np.mean(inside), np.mean(random_pairs))

    # FASTA input gives the same table as the same sequences in memory; safetensors and npz round trips
    fa = tmp_path / "g.fa"
    fa.write_text("".join(f">chr{i}\n{s[:1000]}\n{s[1000:]}\n" for i, s in enumerate(genome)))
    np.testing.assert_array_equal(train_kmer_word2vec(fa, **kw).table, a.table)
    for name in ("e.safetensors", "e.npz"):
        back = KmerEmbedding.load(a.save(tmp_path / name))
        assert back.k == 4 and back.meta["seed"] == "3"
        np.testing.assert_array_equal(back.table, a.table)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("lm") / "tiny_bert", k=3, max_tokens=64)


def test_tiny_bert_segment_embeddings_and_disk_cache(tiny_bert, tmp_path, monkeypatch):
    lm = DNALanguageModel(tiny_bert)
    assert (lm.kind, lm.k, lm.hidden_size) == ("dnabert", 3, 32)
    opts = LMOptions(max_tokens=64)
    assert lm.segment_bp(opts) == 64  # 62 k-mer tokens + CLS/SEP
    rng = np.random.default_rng(1)
    seqs = decode(rng.integers(0, 4, (6, 150)).astype(np.uint8))
    emb = embed_sequences(lm, seqs, opts, cache_dir=tmp_path)
    assert emb.shape == (6, 3, 32) and np.isfinite(emb).all()
    # segments are embedded independently: the first segment only depends on the first 64 bases
    alt = [s[:64] + s[64:][::-1] for s in seqs]
    np.testing.assert_allclose(lm.embed(alt, opts)[:, 0], emb[:, 0], atol=1e-5)
    assert not np.allclose(lm.embed(alt, opts)[:, 1], emb[:, 1])
    assert len(list(tmp_path.glob("lm-*.npy"))) == 1

    def boom(*a, **k):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(lm, "embed", boom)
    again = embed_sequences(lm, seqs, opts, cache_dir=tmp_path)
    assert isinstance(again, np.memmap)
    np.testing.assert_array_equal(again, emb)
    other = LMOptions(max_tokens=64, pooling="cls", layer=1)
    with pytest.raises(AssertionError, match="cache should"):  # different options: a different cache key
        embed_sequences(lm, seqs, other, cache_dir=tmp_path)
    cached = next(tmp_path.glob("lm-*.npy"))  # a damaged cache file is not read: the model runs again
    del again
    cached.write_bytes(cached.read_bytes()[:-40])
    with pytest.raises(AssertionError, match="cache should"):
        embed_sequences(lm, seqs, opts, cache_dir=tmp_path)


def _planted_set(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random sequences; the target counts MOTIF copies (0-3) plus noise."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    motif = np.array(["ACGT".index(c) for c in MOTIF], dtype=np.uint8)
    counts = rng.integers(0, 4, n)
    for i, c in enumerate(counts):
        for pos in rng.choice(np.arange(0, length - len(motif), len(motif)), c, replace=False):
            codes[i, pos : pos + len(motif)] = motif
    y = counts + rng.normal(0, 0.3, n)
    return codes, y.astype(np.float32)[:, None]


def _fit(model: torch.nn.Module, codes: np.ndarray, y: np.ndarray, epochs: int, lr: float = 3e-3,
         batch: int = 64, seed: int = 0) -> list[float]:
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    x_all, y_all = one_hot(codes), torch.from_numpy(y)
    losses = []
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(codes))
        total = 0.0
        for s in range(0, len(codes), batch):
            idx = perm[s : s + batch]
            loss = torch.nn.functional.mse_loss(model(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(codes))
    return losses


def _pearson(model: torch.nn.Module, codes: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        p = model(one_hot(codes)).numpy()[:, 0]
    return float(np.corrcoef(p, y[:, 0])[0, 1])


def test_lm_cnn_kmer_mode_learns_planted_motif_and_round_trips(tmp_path):
    codes, y = _planted_set(1400, 100, seed=0)
    emb = train_kmer_word2vec(decode(codes[:1000]), k=4, vector_size=16, window=3, epochs=3, seed=0)
    path = emb.save(tmp_path / "kmer4.safetensors")
    params = dict(mode="kmer", embedding=str(path), channels=(32, 32), kernel_sizes=5, pool_sizes=2)
    tr, te = slice(0, 1000), slice(1000, None)
    torch.manual_seed(0)
    model = build_model("lm_cnn", seq_len=100, **params)
    _fit(model, codes[tr], y[tr], epochs=8)
    r = _pearson(model, codes[te], y[te])
    torch.manual_seed(0)
    control = build_model("lm_cnn", seq_len=100, **params)
    _fit(control, codes[tr], np.random.default_rng(0).permutation(y[tr]), epochs=8)
    r_control = _pearson(control, codes[te], y[te])
    assert r > 0.6 and r > r_control + 0.4, (r, r_control)
    assert torch.equal(model.table, torch.from_numpy(emb.table))  # frozen: still the word2vec vectors

    # input gradients exist (attribution methods work) and the saved folder is self-contained
    x = one_hot(codes[te][:4]).requires_grad_(True)
    model(x).sum().backward()
    assert x.grad.abs().sum() > 0
    out = save_model(tmp_path / "saved", model, {"model": {"name": "lm_cnn", "seq_len": 100, "n_targets": 1,
                                                           "params": {**params, "k": 4, "embed_dim": 16}}})
    path.unlink()  # the table travels in the weights
    loaded = load_model(out).model
    xt = one_hot(codes[te])
    with torch.no_grad():
        torch.testing.assert_close(loaded(xt), model.eval()(xt), rtol=0, atol=0)


def test_lm_cnn_lm_mode_trains_caches_and_round_trips(tiny_bert, tmp_path):
    codes, y = _planted_set(160, 120, seed=2)
    params = dict(mode="lm", lm_path=str(tiny_bert), max_tokens=34, channels=(16,), kernel_sizes=3)
    torch.manual_seed(0)
    model = build_model("lm_cnn", seq_len=120, **params)
    assert model.n_positions == 4 and model.embed_dim == 32  # 120 bp / 34-token (34 bp) segments
    names = list(model.state_dict())
    assert names and all(n.startswith(("convs.", "head.")) for n in names)  # the frozen LM is not saved
    assert all(p.requires_grad for p in model.parameters())
    losses = _fit(model, codes, y, epochs=6, lr=1e-2, batch=32)
    assert losses[-1] < 0.8 * losses[0], losses
    assert len(model.embedding_cache) == len(codes)  # one embedding per sequence, reused by later epochs

    out = save_model(tmp_path / "saved_lm", model, {"model": {"name": "lm_cnn", "seq_len": 120, "n_targets": 1,
                                                              "params": params}})
    loaded = load_model(out).model
    x = one_hot(codes[:20])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))
        # reverse complement is a different sequence: a different (cached separately) embedding
        assert not torch.allclose(model(reverse_complement_onehot(x)), model(x))


@pytest.mark.skipif(not os.environ.get("SEQ2EXPR_DNA_LM"), reason="set SEQ2EXPR_DNA_LM to a local DNA LM folder")
def test_real_dna_language_model_folder():
    lm = DNALanguageModel(os.environ["SEQ2EXPR_DNA_LM"], trust_remote_code=True)
    rng = np.random.default_rng(0)
    seqs = decode(rng.integers(0, 4, (2, 700)).astype(np.uint8))
    opts = LMOptions(max_tokens=128, batch_size=4)
    emb = lm.embed(seqs, opts)
    assert emb.shape == (2, -(-700 // lm.segment_bp(opts)), lm.hidden_size) and np.isfinite(emb).all()
    assert not np.allclose(emb[0], emb[1])
    # the TExCNN model on that folder: trainable head, frozen LM outside the state dict
    model = build_model("lm_cnn", seq_len=700, mode="lm", lm_path=os.environ["SEQ2EXPR_DNA_LM"], max_tokens=128,
                        trust_remote_code=True, lm_batch_size=4, channels=(8,), kernel_sizes=1)
    codes = np.array([["ACGT".index(c) for c in s] for s in seqs], dtype=np.uint8)
    out = model(one_hot(codes))
    out.sum().backward()
    assert out.shape == (2, 1) and all(p.grad is not None for p in model.parameters())
    assert all(n.startswith(("convs.", "head.")) for n in model.state_dict())


def test_codes_from_onehot_handles_n_and_scaled_input():
    from seq2expr.models.lm_cnn import codes_from_onehot

    rng = np.random.default_rng(5)
    codes = rng.integers(0, 4, (3, 50)).astype(np.uint8)
    codes[0, [0, 7, 49]] = 4
    for n_value in (0.0, 0.25):
        x = one_hot(codes, n_value)
        np.testing.assert_array_equal(codes_from_onehot(x).numpy(), codes)
        np.testing.assert_array_equal(codes_from_onehot(0.3 * x).numpy(), codes)  # integrated-gradients paths


def test_segment_pool_averages_kmer_vectors(tmp_path):
    """DeepLncLoc subsequence averaging: each output column is the mean of ``segment_pool`` k-mer vectors."""
    codes, _ = _planted_set(8, 60, seed=4)
    emb = train_kmer_word2vec(decode(codes), k=3, vector_size=8, window=3, epochs=1, seed=0)
    path = emb.save(tmp_path / "k3.npz")
    model = build_model("lm_cnn", seq_len=60, mode="kmer", embedding=str(path), segment_pool=5,
                        channels=(8,), kernel_sizes=3, pool_sizes=1)
    assert model.n_positions == 58 // 5
    feats = model.kmer_features(one_hot(codes)).numpy()
    want = emb.embed(codes)[:, :55].reshape(8, 11, 5, 8).mean(2).transpose(0, 2, 1)
    np.testing.assert_allclose(feats, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="segment_pool"):
        build_model("lm_cnn", seq_len=60, mode="kmer", embedding=str(path), segment_pool=100)


def _write_table(path, codes: np.ndarray, y: np.ndarray) -> None:
    import pandas as pd

    pd.DataFrame({"id": [f"s{i}" for i in range(len(codes))], "sequence": decode(codes),
                  "expression": y[:, 0]}).to_csv(path, sep="\t", index=False)


def _cfg(table, out, params: dict, *extra: str):
    import json

    from seq2expr.config import load_config

    return load_config(None, [
        f"data.path={table}", "data.id_column=id", "data.split.method=random", "data.split.valid_fraction=0.15",
        "data.split.test_fraction=0.2", f"data.cache_dir={out / 'enc'}", "model.name=lm_cnn",
        f"model.params={json.dumps(params)}", "train.batch_size=64", "train.lr=0.005", "train.threads=1",
        "train.early_stopping_patience=null", f"output_dir={out / 'run'}", *extra])


def test_lm_cnn_kmer_from_genome_fasta_through_train(tmp_path):
    """`seq2expr train` path: model.params.embedding is a genome FASTA; word2vec is trained once, cached, learns."""
    import json

    from seq2expr.embeddings.kmer import genome_kmer_embedding
    from seq2expr.inference import predict
    from seq2expr.training import train

    genome = tmp_path / "genome.fa"
    chroms = _genome(seed=1, n=12, length=2000)
    genome.write_text("".join(f">c{i}\n{s}\n" for i, s in enumerate(chroms)))
    codes, y = _planted_set(700, 100, seed=6)
    _write_table(tmp_path / "data.tsv", codes, y)
    params = dict(mode="kmer", embedding=str(genome), k=4, embed_dim=16, w2v_exclude=["c11"],
                  cache_dir=str(tmp_path / "kmer"), segment_pool=2, channels=[32, 32], kernel_sizes=5,
                  pool_sizes=2, dropout=0.0, head_dropout=0.0)
    model_dir = train(_cfg(tmp_path / "data.tsv", tmp_path, params, "train.epochs=6"), progress=False)
    r = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["overall"]["pearson_r"]
    assert r > 0.6, r  # the target is the motif count (a shuffled-label control is in the kmer test above)
    cached = list((tmp_path / "kmer").glob("kmer4-d16-*.safetensors"))
    assert len(cached) == 1
    # the cache key covers the excluded chromosomes; the cached table is the one a direct call returns
    emb, path = genome_kmer_embedding(genome, 4, 16, exclude=("c11",), cache_dir=tmp_path / "kmer")
    assert path == cached[0]
    _, other = genome_kmer_embedding(genome, 4, 16, cache_dir=tmp_path / "kmer")
    assert other != path
    saved = load_model(model_dir)
    np.testing.assert_array_equal(saved.model.table.numpy(), emb.table)
    # the saved weights carry the table: predictions do not need the genome any more
    genome.unlink()
    again = load_model(model_dir)
    np.testing.assert_array_equal(predict(again.model, codes[:50]), predict(saved.model, codes[:50]))


def test_lm_cnn_lm_mode_through_train(tiny_bert, tmp_path):
    """Full LM path through the training layer: tiny local BERT, segment embeddings cached on disk, export."""
    import json

    import pandas as pd

    from seq2expr.inference import predict
    from seq2expr.training import train

    codes, y = _planted_set(200, 120, seed=7)
    _write_table(tmp_path / "data.tsv", codes, y)
    params = dict(mode="lm", lm_path=str(tiny_bert), max_tokens=34, channels=[16], kernel_sizes=3,
                  cache_dir=str(tmp_path / "lm_cache"), lm_batch_size=64)
    model_dir = train(_cfg(tmp_path / "data.tsv", tmp_path, params, "train.epochs=2"), progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert np.isfinite(metrics["test"]["overall"]["pearson_r"])
    assert list((tmp_path / "lm_cache").glob("lm-*.npy"))
    saved = load_model(model_dir)
    assert saved.config.model.params["lm_path"] == str(tiny_bert)
    pred = pd.read_csv(tmp_path / "run" / "predictions_test.tsv", sep="\t")
    table = pd.read_csv(tmp_path / "data.tsv", sep="\t").set_index("id")
    again = predict(saved, table.loc[pred["id"], "sequence"].tolist())
    np.testing.assert_allclose(np.asarray(again).ravel(), pred["prediction"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["dnabert2", "nt"])
def test_bpe_and_nucleotide_transformer_tokenisation(kind, tmp_path, caplog):
    """DNABERT-2 (BPE) and Nucleotide Transformer (ESM, 6-mers) folders: detected, segmented, never silently cut."""
    from seq2expr.embeddings.lm import make_tiny_lm

    lm = DNALanguageModel(make_tiny_lm(tmp_path / kind, kind, max_tokens=64))
    assert lm.kind == kind and lm.k is None
    rng = np.random.default_rng(3)
    seqs = decode(rng.integers(0, 4, (3, 700)).astype(np.uint8))
    opts = LMOptions(max_tokens=64, segment_bp=None if kind == "nt" else 100)
    seg = lm.segment_bp(opts)
    emb = lm.embed(seqs, opts)
    assert emb.shape == (3, -(-700 // seg), 16) and np.isfinite(emb).all() and lm.last_truncated == 0
    alt = [s[:seg] + s[seg:][::-1] for s in seqs]  # segments are embedded independently
    np.testing.assert_allclose(lm.embed(alt, opts)[:, 0], emb[:, 0], atol=1e-5)
    if kind == "dnabert2":  # this tiny BPE vocabulary averages ~3 bp per token: 248-bp default segments overflow
        with caplog.at_level("WARNING", logger="seq2expr.embeddings.lm"):
            lm.embed(seqs, LMOptions(max_tokens=64))
        assert lm.last_truncated > 0 and "smaller segment_bp" in caplog.text
    model = build_model("lm_cnn", seq_len=700, mode="lm", lm_path=str(tmp_path / kind), max_tokens=64,
                        segment_bp=opts.segment_bp, channels=(8,), kernel_sizes=1)
    assert model(one_hot(np.array([["ACGT".index(c) for c in s] for s in seqs], dtype=np.uint8))).shape == (3, 1)
