"""Every cache lands in ``$SEQ2EXPR_CACHE/<kind>`` (``seq2expr.user_cache.cache_folder``) and nowhere else."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from seq2expr import zoo
from seq2expr.data import registry
from seq2expr.data.cache import cache_path, encode_cached
from seq2expr.data.genome.fasta import Genome
from seq2expr.data.records import Records
from seq2expr.data.sequences import SequencePolicy
from seq2expr.embeddings.kmer import genome_kmer_embedding
from seq2expr.user_cache import KINDS, cache_folder

RNG = np.random.default_rng(0)
CHROM = "".join(RNG.choice(list("ACGT"), size=400))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """``SEQ2EXPR_CACHE`` in ``tmp/cache``, a fresh home (to see nothing goes to ``~/.cache``), no mirrors."""
    monkeypatch.setenv("SEQ2EXPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("SEQ2EXPR_DATA_MIRROR", "SEQ2EXPR_MODELS_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "cache"


def test_each_kind_lands_in_its_folder_under_seq2expr_cache(cache, tmp_path, monkeypatch):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    # encoded sequences
    seqs = ["".join(RNG.choice(list("ACGT"), size=20)) for _ in range(8)]
    records = Records(ids=[f"r{i}" for i in range(8)], sequences=seqs, targets=np.zeros((8, 1), np.float32),
                      target_names=["y"], source="mem.tsv")
    policy = SequencePolicy(length=20)
    encode_cached(records, policy)
    assert cache_path(records, policy).parent == cache / "encoded"
    # a plain-gzip genome decompressed and indexed once
    gz = inputs / "g.fa.gz"
    gz.write_bytes(gzip.compress(f">chr1\n{CHROM}\n".encode()))
    assert Genome(gz).fetch("chr1", 0, 5)[0] == CHROM[:5]
    # the k-mer table trained on a genome (documented as $SEQ2EXPR_CACHE/kmer; was $SEQ2EXPR_CACHE/../kmer)
    fa = inputs / "g.fa"
    fa.write_text(f">chr1\n{CHROM}\n")
    _, table = genome_kmer_embedding(fa, k=3, vector_size=4)
    assert table.parent == cache / "kmer"
    # a registry data set's download (the network replaced by a writer of the file)
    def fake_download(url, dest, pin, **kw) -> None:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(b"x")

    monkeypatch.setattr(registry, "download", fake_download)
    got = registry.fetch("dream2022_demo_train")
    assert {p.parent for p, _ in got.values()} == {cache / "downloads" / "dream2022"}
    # the zoo's cache of an entry and of a converted checkpoint
    card = zoo.get_card("legnet-dream2022")
    assert zoo.cache_dir(card) == cache / "models" / card.name / card.version
    assert zoo.converted_dir(card).is_relative_to(cache / "models")

    written = {p.relative_to(cache).parts[0] for p in _files(cache)}
    assert written == {"encoded", "genomes", "kmer", "downloads"}
    assert set(KINDS) >= written
    assert not [p for p in tmp_path.iterdir() if p.name not in ("cache", "inputs")]  # nothing beside the cache
    assert _files(inputs) == [fa, gz]  # no index beside the genome either


def test_default_is_the_users_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SEQ2EXPR_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for kind in KINDS:
        assert cache_folder(kind) == tmp_path / ".cache" / "seq2expr" / kind
    assert registry.cache_root() == tmp_path / ".cache" / "seq2expr" / "downloads"
    assert zoo.cache_root() == tmp_path / ".cache" / "seq2expr" / "models"
    with pytest.raises(ValueError, match="unknown cache kind"):
        cache_folder("elsewhere")
