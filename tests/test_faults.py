"""Fault injection: broken, hostile and unwritable files give one line naming the file, exit code 2, no traceback
and no output; checkpoints are never unpickled; caches defend themselves; a locked run folder is refused; and
``train`` killed (SIGKILL) at any stage resumes to the same final weights as an uninterrupted run."""

from __future__ import annotations

import errno
import gzip
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from seq2expr.atomic import LOCK_FILE, atomic_path, folder_lock
from seq2expr.cli.main import app
from seq2expr.data.cache import encode_cached, sidecar
from seq2expr.data.records import Records
from seq2expr.data.sequences import SequencePolicy, encode
from seq2expr.files import FileError
from seq2expr.inference import ModelSpec, SavedModelConfig, save_model
from seq2expr.models import build_model
from seq2expr.outputs import MARKER

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
PARAMS = {"channels": [8], "kernel_sizes": 11, "pool_sizes": [50], "convs_per_block": 1, "dropout": 0.0,
          "hidden": [8], "head_dropout": 0.0}
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _table(n: int = 200, length: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    gc = np.array([(s.count("G") + s.count("C")) / length for s in seqs])
    return pd.DataFrame({"id": [f"s{i}" for i in range(n)], "sequence": seqs,
                         "expression": 4 * gc + rng.normal(0, 0.1, n)})


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A saved (untrained) 50-bp CNN in ``model/`` and a good input table ``data.tsv``."""
    d = tmp_path_factory.mktemp("faults")
    _table().to_csv(d / "data.tsv", sep="\t", index=False)
    torch.manual_seed(0)
    save_model(d / "model", build_model("cnn", seq_len=50, n_targets=1, **PARAMS),
               SavedModelConfig(model=ModelSpec(name="cnn", params=PARAMS, seq_len=50, n_targets=1)))
    return d


def _fails(args: list[str], *names: str, problem: str, outputs: list[Path], during_work: bool = False) -> str:
    """Run the CLI; assert exit code 2, one ``error: ...`` line naming ``names`` and ``problem``, no traceback,
    and no output (nor a temporary of one) written. Returns the line. ``during_work``: the failure comes after the
    work began, so the run's own log lines (e.g. the resolved precision) may precede the error line."""
    res = runner.invoke(app, args)
    err = res.stderr.strip()
    assert res.exit_code == 2, (res.output, res.exception)
    if during_work:
        err = err.splitlines()[-1] if err else err
        assert sum(line.startswith("error: ") for line in res.stderr.splitlines()) == 1, res.output
    assert "Traceback" not in res.output and len(err.splitlines()) == 1, res.output
    assert err.startswith("error: ") and problem in err, err
    for name in names:
        assert str(name) in err, err
    for out in outputs:
        assert not out.exists(), out
        assert not list(out.parent.glob(f".{out.name}.*")), list(out.parent.iterdir())
    return err


def _model_copy(files: Path, tmp_path: Path) -> Path:
    m = tmp_path / "m"
    m.mkdir()
    for f in (files / "model").iterdir():
        (m / f.name).write_bytes(f.read_bytes())
    return m


# --- inputs -------------------------------------------------------------------------------------------------------

def _truncated_gz(files: Path, p: Path) -> None:
    p.write_bytes(gzip.compress((files / "data.tsv").read_bytes())[:800])


def _bad_gz(files: Path, p: Path) -> None:
    p.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)


def _binary(files: Path, p: Path) -> None:
    p.write_bytes(b"id\tsequence\n" + bytes(range(256)))


def _folder(files: Path, p: Path) -> None:
    p.mkdir()


def _truncated_fasta_gz(files: Path, p: Path) -> None:
    t = _table()
    fasta = "".join(f">{i}\n{s}\n" for i, s in zip(t["id"], t["sequence"], strict=True))
    p.write_bytes(gzip.compress(fasta.encode())[:900])


INPUTS = {  # name: (maker, file name, expected problem)
    "truncated gzip table": (_truncated_gz, "in.tsv.gz", "truncated (the compressed data ends early)"),
    "bad gzip data": (_bad_gz, "in.tsv.gz", "corrupt compressed data"),
    "binary table": (_binary, "in.tsv", "not UTF-8 text (binary content? byte 0x80 at byte"),
    "folder as input": (_folder, "in.tsv", "is a folder, not a file"),
    "truncated gzip FASTA": (_truncated_fasta_gz, "in.fa.gz", "truncated (the compressed data ends early)"),
}


@pytest.mark.parametrize("case", list(INPUTS))
def test_broken_input_file(files, tmp_path, case):
    make, name, problem = INPUTS[case]
    make(files, tmp_path / name)
    out = tmp_path / "out.tsv"
    _fails(["predict", str(files / "model"), str(tmp_path / name), "-o", str(out)], tmp_path / name,
           problem=problem, outputs=[out])
    res = runner.invoke(app, ["evaluate", str(files / "model"), str(tmp_path / name), "-o", str(tmp_path / "ev")])
    assert res.exit_code == 2 and str(tmp_path / name) in res.stderr and problem in res.stderr, res.output
    assert not (tmp_path / "ev").exists()


@pytest.fixture
def fresh_process(monkeypatch):
    """The once-per-process messages as a fresh process has them: none said yet (the precision's included)."""
    from seq2expr.inference import device as device_rules

    monkeypatch.setattr(device_rules, "_said", set())
    monkeypatch.setattr(device_rules, "_pending", {})


@pytest.mark.parametrize("verb", ["predict", "interpret", "variants"])
def test_a_broken_input_is_its_error_line_alone(files, tmp_path, fresh_process, verb):
    """In a fresh process a broken input's error line comes alone: the resolved precision is said when the first
    forward pass starts, and a plain-gzip VCF's bgzip note once its copy is whole; a good run then says both."""
    genome = "".join(np.random.default_rng(1).choice(list("ACGT"), 400))
    (tmp_path / "g.fa").write_text(f">chrI\n{genome}\n")
    vcf = "##fileformat=VCFv4.2\n##contig=<ID=chrI>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(
        f"chrI\t{p}\t.\t{genome[p - 1]}\t{'T' if genome[p - 1] != 'T' else 'A'}\t.\t.\t.\n"
        for p in range(100, 300, 10))
    good = {"predict": files / "data.tsv", "interpret": files / "data.tsv", "variants": tmp_path / "v.vcf.gz"}[verb]
    if verb == "variants":
        good.write_bytes(gzip.compress(vcf.encode()))
    bad = tmp_path / ("bad" + "".join(good.suffixes) + ("" if good.suffix == ".gz" else ".gz"))
    data = gzip.compress(good.read_bytes()) if good.suffix != ".gz" else good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    extra = {"predict": [], "interpret": ["--n", "20", "--n-top", "1", "--method", "ism"],
             "variants": ["--genome", str(tmp_path / "g.fa")]}[verb]
    outs = {"predict": tmp_path / "p.tsv", "interpret": tmp_path / "i", "variants": tmp_path / "v"}
    _fails([verb, str(files / "model"), str(bad), *extra, "-o", str(outs[verb])], bad,
           problem="truncated (the compressed data ends early)", outputs=[outs[verb]])
    res = runner.invoke(app, [verb, str(files / "model"), str(good), *extra, "-o", str(outs[verb])])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "precision auto -> " in res.stderr, res.stderr
    if verb == "variants":
        assert "compressed with plain gzip, not bgzip" in " ".join(res.stderr.split()), res.stderr


def test_missing_input_file(files, tmp_path):
    out = tmp_path / "out.tsv"
    _fails(["predict", str(files / "model"), str(tmp_path / "nope.tsv"), "-o", str(out)], tmp_path / "nope.tsv",
           problem="file not found", outputs=[out])


# --- model folders -------------------------------------------------------------------------------------------------

def _truncate_weights(m: Path) -> str:
    w = m / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    return "truncated or not a safetensors file"


def _malformed_config(m: Path) -> str:
    (m / "config.json").write_text('{"model": {name: "cnn"}}')
    return "not valid JSON (line 1 column 12: Expecting property name enclosed in double quotes)"


def _sizes_mismatch(m: Path) -> str:
    cfg = json.loads((m / "config.json").read_text())
    cfg["model"]["params"]["pool_sizes"] = [2, 2, 50]
    (m / "config.json").write_text(json.dumps(cfg))
    return "model.params do not build a 'cnn' model: pool_sizes has 3 values but there are 1 layers"


def _weights_mismatch(m: Path) -> str:
    cfg = json.loads((m / "config.json").read_text())
    cfg["model"]["params"]["channels"] = [16]
    (m / "config.json").write_text(json.dumps(cfg))
    return "weights do not fit the architecture in config.json"


def _binary_config(m: Path) -> str:
    (m / "config.json").write_bytes(b"\xff\xfe{}")
    return "not UTF-8 text"


def _missing_weights(m: Path) -> str:
    (m / "model.safetensors").unlink()
    return "missing; a saved model folder holds model.safetensors and config.json"


MODELS = {  # name: (breaker, the file the message must name)
    "truncated model.safetensors": (_truncate_weights, "model.safetensors"),
    "malformed config.json": (_malformed_config, "config.json"),
    "config sizes that do not build": (_sizes_mismatch, "config.json"),
    "config sizes that do not fit the weights": (_weights_mismatch, "model.safetensors"),
    "binary config.json": (_binary_config, "config.json"),
    "missing model.safetensors": (_missing_weights, "model.safetensors"),
}


@pytest.mark.parametrize("case", list(MODELS))
def test_broken_model_folder(files, tmp_path, case):
    breaker, culprit = MODELS[case]
    m = _model_copy(files, tmp_path)
    problem = breaker(m)
    out = tmp_path / "out.tsv"
    _fails(["predict", str(m), str(files / "data.tsv"), "-o", str(out)], m / culprit, problem=problem,
           outputs=[out])


def test_unreadable_config_names_it(files, tmp_path, monkeypatch):
    """Permission denied on a model's config.json (simulated: the tests may run as root)."""
    m = _model_copy(files, tmp_path)
    real = Path.read_text

    def deny(self, *a, **k):
        if self.name == "config.json":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", deny)
    out = tmp_path / "out.tsv"
    _fails(["predict", str(m), str(files / "data.tsv"), "-o", str(out)], m / "config.json",
           problem="permission denied", outputs=[out])


@pytest.mark.skipif(ROOT, reason="root reads files whatever their mode")
def test_unreadable_input_mode(files, tmp_path):
    p = tmp_path / "in.tsv"
    p.write_text((files / "data.tsv").read_text())
    p.chmod(0)
    out = tmp_path / "out.tsv"
    _fails(["predict", str(files / "model"), str(p), "-o", str(out)], p, problem="permission denied", outputs=[out])


# --- run configs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,problem", [
    (b"data:\n  path: [x\n", "not valid YAML (line 3 column 1: expected ',' or ']', but got '<stream end>')"),
    (b"data:\n\tpath: x\n", "not valid YAML (line 2 column 1: found character '\\t' that cannot start any token)"),
    (b"\xff\xfe\x00binary", "not UTF-8 text"),
])
def test_broken_run_config(tmp_path, text, problem):
    cfg = tmp_path / "run.yaml"
    cfg.write_bytes(text)
    _fails(["--silent", "train", str(cfg), "--set", f"output_dir={tmp_path / 'run'}"], cfg, problem=problem,
           outputs=[tmp_path / "run"])


def test_bad_override_value(tmp_path):
    _fails(["train", "table", "--set", "train.epochs=[1", "--set", f"output_dir={tmp_path / 'run'}"],
           problem="override value '[1': not valid YAML (line 1 column 3", outputs=[tmp_path / "run"])


def test_debug_shows_the_traceback(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("data: [x\n")
    res = runner.invoke(app, ["--debug", "train", str(cfg)], env={"SEQ2EXPR_DEBUG": ""})
    assert res.exit_code == 2 and "Traceback" in res.stderr and "FileError" in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: {cfg}: not valid YAML")
    os.environ.pop("SEQ2EXPR_DEBUG", None)  # --debug sets it for the process


# --- writes --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code,problem", [(errno.ENOSPC, "no space left on the device"),
                                          (errno.EROFS, "read-only file system")])
def test_disk_full_or_read_only_output(files, tmp_path, monkeypatch, code, problem):
    """A write that fails part-way (disk full) or cannot start (read-only folder) names the output and leaves
    nothing, neither the file nor a temporary."""
    P = importlib.import_module("seq2expr.inference.predict")  # the package's `predict` name is the function
    real = P.write_prediction_table

    def full_disk(out_path, chunks, columns):
        def failing():
            yield next(iter(chunks))
            raise OSError(code, os.strerror(code))
        return real(out_path, failing(), columns)

    monkeypatch.setattr(P, "write_prediction_table", full_disk)
    out = tmp_path / "out.tsv"
    err = _fails(["predict", str(files / "model"), str(files / "data.tsv"), "-o", str(out), "--chunk-size", "50"],
                 out, problem=problem, outputs=[out], during_work=True)
    assert err == f"error: {out}: {problem}"
    monkeypatch.undo()
    import tempfile

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", k.get("dir"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    _fails(["predict", str(files / "model"), str(files / "data.tsv"), "-o", str(out)], tmp_path,
           problem="read-only file system", outputs=[out], during_work=True)


def test_interrupted_predict_leaves_nothing(files, tmp_path, monkeypatch):
    """Ctrl-C in the middle of a prediction leaves neither the output nor a temporary of it."""
    P = importlib.import_module("seq2expr.inference.predict")  # the package's `predict` name is the function
    real, calls = P.predict, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(P, "predict", interrupted)
    out = tmp_path / "out.tsv"
    res = runner.invoke(app, ["predict", str(files / "model"), str(files / "data.tsv"), "-o", str(out),
                              "--chunk-size", "50"])
    assert res.exit_code == 130 and len(calls) == 2  # Ctrl-C
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_atomic_write_failure_leaves_nothing(tmp_path):
    with pytest.raises(FileError, match="no space left on the device"), atomic_path(tmp_path / "x.bin") as tmp:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


# --- caches --------------------------------------------------------------------------------------------------------

def _records(n: int = 300) -> Records:
    t = _table(n)
    return Records(ids=t["id"].to_numpy().astype(str), sequences=t["sequence"].tolist(),
                   targets=np.zeros((n, 0), np.float32), target_names=[], source="mem")


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "lose the sidecar", "sidecar of other data"])
def test_damaged_cache_is_rebuilt(tmp_path, caplog, damage):
    rec, policy = _records(), SequencePolicy()
    expected = encode(rec.sequences, policy)
    first = encode_cached(rec, policy, cache_dir=tmp_path, key="k" * 32)
    np.testing.assert_array_equal(first, expected)
    path = Path(first.filename)
    del first
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip a byte":
        data[-7] = (data[-7] + 1) % 4
        path.write_bytes(bytes(data))
    elif damage == "lose the sidecar":
        sidecar(path).unlink()
    else:
        meta = json.loads(sidecar(path).read_text())
        sidecar(path).write_text(json.dumps({**meta, "shape": [10, 50]}))
    again = encode_cached(rec, policy, cache_dir=tmp_path, key="k" * 32)
    np.testing.assert_array_equal(again, expected)
    assert "re-encoding" in caplog.text and str(path) in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, sidecar(path).name])  # no temporaries left


def test_two_processes_encoding_the_same_data(tmp_path):
    """Encoding the same records at once from two processes gives one whole, verified cache file."""
    t = _table(20000, length=100)
    t.to_csv(tmp_path / "data.tsv", sep="\t", index=False)
    script = ("import sys, numpy as np\n"
              "from seq2expr.data.io.tables import read_records\n"
              "from seq2expr.data.cache import encode_cached\n"
              "from seq2expr.data.sequences import SequencePolicy\n"
              f"r = read_records({str(tmp_path / 'data.tsv')!r}, id_column='id')\n"
              f"c = encode_cached(r, SequencePolicy(), cache_dir={str(tmp_path / 'cache')!r}, key='c' * 32)\n"
              "print(c.shape, int(np.asarray(c).sum()))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    expected = encode(t["sequence"].tolist(), SequencePolicy())
    assert outs[0][0] == outs[1][0] == f"{expected.shape} {int(expected.sum())}\n"
    cache = tmp_path / "cache"
    assert sorted(p.name for p in cache.iterdir()) == ["c" * 32 + ".json", "c" * 32 + ".npy"]
    from seq2expr.data.cache import verified

    np.testing.assert_array_equal(verified(cache / ("c" * 32 + ".npy"), len(t)), expected)


# --- training: lock, checkpoints, kills ----------------------------------------------------------------------------

def _run_config(d: Path, out: Path) -> Path:
    cfg = {"data": {"path": str(d / "data.tsv"), "id_column": "id", "cache_dir": str(out / "cache"),
                    "split": {"method": "random", "valid_fraction": 0.2, "test_fraction": 0.2}},
           "model": {"name": "cnn", "params": {**PARAMS, "head_dropout": 0.2}},  # dropout: RNG state matters
           "train": {"epochs": 2, "batch_size": 32, "lr": 0.01, "threads": 1, "precise_bn": 0},
           "output_dir": str(out)}
    path = d / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run_folder(d: Path) -> Path:
    """``d`` with the table of ``files`` and a run config writing to ``d/run``; the config's path."""
    _table().to_csv(d / "data.tsv", sep="\t", index=False)
    return _run_config(d, d / "run")


TRAIN_ENV = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}  # every run whose weights are compared


@pytest.fixture(scope="module")  # module: the kill tests compare with it too
def whole_run(tmp_path_factory, seq2expr_command) -> Path:
    """An uninterrupted run (the reference for every kill)."""
    cfg = _run_folder(tmp_path_factory.mktemp("whole"))
    env = {k: v for k, v in os.environ.items() if k != "SEQ2EXPR_FAULT"}
    res = subprocess.run([*seq2expr_command, "train", str(cfg), "--quiet"], capture_output=True,
                         text=True, env={**env, **TRAIN_ENV}, timeout=300)
    assert res.returncode == 0, res.stderr
    return cfg.parent / "run"


def test_second_train_into_a_locked_folder_is_refused(files, tmp_path):
    out = tmp_path / "run"
    cfg = _run_config(files, out)
    with folder_lock(out):
        _fails(["--silent", "train", str(cfg), "--quiet"], out / LOCK_FILE,
               problem=f"another train run (PID {os.getpid()})",
               outputs=[out / "config.yaml", out / "checkpoints"])
    assert not (out / LOCK_FILE).exists()  # released


def _resumed_run(whole_run: Path, tmp_path: Path) -> Path:
    """A copy of the whole run's checkpoints, as if it had been killed after its last epoch's checkpoint."""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    for f in ("last.ckpt", "best.ckpt", "run.json"):
        (out / "checkpoints" / f).write_bytes((whole_run / "checkpoints" / f).read_bytes())
    return out


def test_checkpoint_that_needs_code_is_refused(files, whole_run, tmp_path):
    out = _resumed_run(whole_run, tmp_path)
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["payload"] = _Payload(tmp_path / "pwned")
    torch.save(ckpt, out / "checkpoints" / "last.ckpt")
    cfg = _run_config(files, out)
    _fails(["--silent", "train", str(cfg), "--quiet"], out / "checkpoints" / "last.ckpt",
           problem="refused: loading this checkpoint would run arbitrary code (it holds posix.system)",
           outputs=[out / "model", out / "metrics.json"])
    assert not (tmp_path / "pwned").exists()


class _Payload:
    """Unpickling it runs a shell command (what a hostile shared checkpoint would do)."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_truncated_checkpoint_is_named(files, whole_run, tmp_path):
    out = _resumed_run(whole_run, tmp_path)
    last = out / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:3000])
    _fails(["--silent", "train", str(_run_config(files, out)), "--quiet"], last,
           problem="truncated or not a checkpoint",
           outputs=[out / "model", out / "metrics.json"])


FAULTS = ["encode", "batch:5", "checkpoint:2", "export", "batch:5:TERM", "checkpoint:2:INT", "encode:1:TERM"]

@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS)
def test_killed_train_resumes_to_the_same_weights(whole_run, seq2expr_command, tmp_path, fault):
    """SIGKILL at a stage of ``train`` (data preparation with the encoded cache half-written, after a training
    step of the second epoch, with a checkpoint half-written, with the model folder half-written); rerunning the
    same command ends with exactly the weights of the uninterrupted run, and no temporary file is left.

    SIGTERM (a scheduler's time limit or pre-emption) and SIGINT (Ctrl+C) instead end the command with one line
    saying where it stopped and exit status 143 / 130, never 0; the resume (here in this process, through the same
    CLI) is the same. The killed command is a process of its own (forked from one that imported the CLI)."""
    cfg = _run_folder(tmp_path)
    out = tmp_path / "run"
    killed = subprocess.run([*seq2expr_command, "train", str(cfg), "--quiet"], capture_output=True,
                            text=True, env={**os.environ, **TRAIN_ENV, "SEQ2EXPR_FAULT": fault}, cwd=tmp_path,
                            timeout=300)
    sig = fault.split(":")[2] if fault.count(":") == 2 else None
    if sig is None:
        assert killed.returncode == -9, killed.stderr
    else:
        assert killed.returncode == {"TERM": 143, "INT": 130}[sig], killed.stderr
        last = killed.stderr.strip().splitlines()[-1]
        assert last.startswith(f"interrupted (SIG{sig})") and "run the same command to resume" in last, last
        assert "Traceback" not in killed.stderr, killed.stderr
        if fault.startswith("batch"):  # the 5th optimiser step: epoch 2 (4 steps an epoch), step 5
            assert "at epoch 2 step 5;" in last, last
    assert not (out / "model").exists() and not (out / "metrics.json").exists()
    again = runner.invoke(app, ["train", str(cfg), "--quiet"])
    assert again.exit_code == 0, again.output
    reference = load_file(whole_run / "model" / "model.safetensors")
    resumed = load_file(out / "model" / "model.safetensors")
    assert reference.keys() == resumed.keys()
    for k in reference:
        torch.testing.assert_close(resumed[k], reference[k], rtol=0, atol=0, msg=k)
    leftovers = [p for p in [*out.glob(".*"), *(out / "checkpoints").glob(".*")] if p.name != MARKER]
    assert leftovers == [], leftovers


def test_nothing_is_unpickled_anywhere():
    """No source file of the package, its tests or benchmarks asks torch to unpickle arbitrary objects."""
    needle = "weights_only" + "=False"
    hits = [str(p) for folder in ("seq2expr", "tests", "bench") for p in (REPO / folder).rglob("*.py")
            if needle in p.read_text()]
    assert hits == []


# --- genome, annotation, expression, VCF, motif files ---------------------------------------------------------------

_GTF = ('chrI\tt\tgene\t51\t150\t.\t+\t.\tgene_id "G1"; gene_biotype "protein_coding";\n'
        'chrI\tt\tgene\t201\t260\t.\t-\t.\tgene_id "G2"; gene_biotype "protein_coding";\n')


@pytest.fixture
def genome_inputs(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    (tmp_path / "g.fa").write_text(">chrI\n" + "".join(rng.choice(list("ACGT"), 400)) + "\n")
    (tmp_path / "a.gtf").write_text(_GTF * 20)
    (tmp_path / "e.tsv").write_text("gene_id\tA\nG1\t1.5\nG2\t8.0\n")
    return {"genome": tmp_path / "g.fa", "annotation": tmp_path / "a.gtf", "expression": tmp_path / "e.tsv"}


@pytest.mark.parametrize("which,broken,problem", [
    ("genome", "truncated gzip", "truncated (the compressed data ends early)"),
    ("annotation", "truncated gzip", "truncated (the compressed data ends early)"),
    ("annotation", "binary", "not UTF-8 text"),
    ("expression", "binary", "cannot read expression table ('utf-8' codec can't decode byte 0x80"),
    ("expression", "missing", "expression input not found"),
])
def test_broken_genome_inputs(genome_inputs, tmp_path, which, broken, problem):
    """``data genes`` with a broken genome, annotation or expression file: one line naming it, nothing written."""
    src = genome_inputs[which]
    if broken == "truncated gzip":
        bad = src.with_name(src.name + ".gz")
        data = gzip.compress(src.read_bytes())
        bad.write_bytes(data[: len(data) // 2])
    elif broken == "binary":
        bad = src.with_name("bin" + src.suffix)
        bad.write_bytes(src.read_bytes()[:20] + bytes(range(128, 256)))
    else:
        bad = src.with_name("nope" + src.suffix)
    paths = {**genome_inputs, which: bad}
    out = tmp_path / "out"
    _fails(["data", "genes", "--genome", str(paths["genome"]), "--annotation", str(paths["annotation"]),
            "--expression", str(paths["expression"]), "--single-window", "60", "-o", str(out)], bad,
           problem=problem, outputs=[out])


def test_broken_vcf_and_motif_file(tmp_path):
    from seq2expr.data.errors import DataError
    from seq2expr.data.io.motifs import read_meme
    from seq2expr.data.io.vcf import read_variants

    vcf = tmp_path / "v.vcf.gz"
    text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "chrI\t10\t.\tA\tC\t.\t.\t.\n" * 50
    vcf.write_bytes(gzip.compress(text.encode())[:60])
    with pytest.raises((FileError, DataError), match=f"{vcf}: "):
        list(read_variants(vcf))
    meme = tmp_path / "m.meme"
    meme.write_bytes(b"MEME version 4\n\n" + bytes(range(128, 256)))
    with pytest.raises((FileError, DataError), match=f"{meme}: "):
        read_meme(meme)


def test_interrupted_evaluate_and_data_genes_leave_nothing(files, genome_inputs, tmp_path, monkeypatch):
    """Ctrl-C while ``evaluate`` writes its metrics, or while ``data genes`` writes its report, leaves no output
    folder and no staged files; ``evaluate`` into a folder of the user's is refused (its files untouched), and a
    previous ``evaluate`` output is replaced only with --force."""
    ev = importlib.import_module("seq2expr.evaluation.evaluate")
    build = importlib.import_module("seq2expr.data.genome.build")

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ev, "write_metrics", interrupt)
    res = runner.invoke(app, ["evaluate", str(files / "model"), str(files / "data.tsv"), "--id-column", "id",
                              "--target-column", "expression", "-o", str(tmp_path / "ev"), "--n-boot", "10"])
    assert res.exit_code == 130  # the CLI framework's answer to Ctrl-C
    monkeypatch.setattr(build, "write_json", interrupt)
    res = runner.invoke(app, ["data", "genes", "--genome", str(genome_inputs["genome"]), "--annotation",
                              str(genome_inputs["annotation"]), "--expression", str(genome_inputs["expression"]),
                              "--single-window", "60", "-o", str(tmp_path / "genes")])
    assert res.exit_code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gtf", "e.tsv", "g.fa"]
    monkeypatch.undo()
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "mine.txt").write_text("kept")
    args = ["evaluate", str(files / "model"), str(files / "data.tsv"), "--id-column", "id", "--target-column",
            "expression", "--n-boot", "10", "-o"]
    _fails([*args, str(tmp_path / "ev")], tmp_path / "ev", problem="holds no output of `evaluate`", outputs=[])
    assert [p.name for p in (tmp_path / "ev").iterdir()] == ["mine.txt"]
    assert (tmp_path / "ev" / "mine.txt").read_text() == "kept"
    res = runner.invoke(app, [*args, str(tmp_path / "ev2")])
    assert res.exit_code == 0, res.output
    _fails([*args, str(tmp_path / "ev2")], tmp_path / "ev2", problem="pass --force to replace it", outputs=[])
    res = runner.invoke(app, [*args, str(tmp_path / "ev2"), "--force"])
    assert res.exit_code == 0, res.output
    assert {MARKER, "metrics.json", "predictions.tsv"} <= {p.name for p in (tmp_path / "ev2").iterdir()}
    assert not list(tmp_path.glob(".*"))
