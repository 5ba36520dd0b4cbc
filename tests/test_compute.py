"""The compute context: one object for device, precision, batch size and engine, resolved once and passed down,
the keyword spellings folded into it, and the command line's compute options declared once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from toys import linear_model, random_onehot

from seq2expr.inference import Compute, compute_of, predict
from seq2expr.interpret.attribute import attribute

L = 30


def test_keywords_fold_into_the_context_and_a_clash_is_refused():
    assert compute_of(None, batch_size=64, device="cpu") == Compute(device="cpu", batch_size=64)
    base = Compute(precision="32", batch_size=32)
    assert compute_of(base, batch_size=None, device="cpu") == Compute(device="cpu", precision="32", batch_size=32)
    assert compute_of(base, batch_size=32).batch_size == 32  # the same value twice is no clash
    with pytest.raises(ValueError, match="batch_size given twice"):
        compute_of(base, batch_size=64)
    with pytest.raises(TypeError, match="no compute setting thread"):
        compute_of(None, thread=2)
    assert Compute().batch(128) == 128 and Compute(batch_size=7).batch(128) == 7


def test_a_zero_batch_is_refused_not_read_as_the_default():
    """``batch_size=0`` is an error wherever a context is folded from keywords, not "the function's default"."""
    from seq2expr.data.errors import DataError
    from seq2expr.design import design

    with pytest.raises(DataError, match="batch_size must be at least 1, not 0"):
        design("zoo:dream2022-cnn", batch_size=0, n=1, rounds=0)


def test_resolve_is_concrete_and_idempotent():
    model = linear_model(L)
    ctx = Compute(device="auto", precision="auto").resolve(model)
    assert isinstance(ctx.device, torch.device) and ctx.precision in ("32", "bf16", "16")
    assert ctx.resolve(model) == ctx
    onnx = Compute(engine="onnxruntime").resolve(model)
    assert (onnx.device.type, onnx.precision, onnx.engine) == ("cpu", "32", "onnxruntime")
    with pytest.raises(ValueError, match="float32"):
        Compute(engine="onnxruntime", precision="bf16").resolve(model)
    with pytest.raises(ValueError):
        Compute(engine="tensorrt").resolve(model)


def test_a_context_predicts_and_attributes_as_its_keywords_do():
    """predict and attribute give the same numbers with a context as with the same settings as keywords (the
    linear model: exact), and a small batch changes nothing."""
    model, x = linear_model(L), random_onehot(9, L, seed=3)
    want = np.einsum("nbl,tbl->nt", x, model.weight.detach().numpy()) + 0.5
    ctx = Compute(device="cpu", precision="32", batch_size=2)
    np.testing.assert_allclose(predict(model, x, compute=ctx), want, atol=1e-5)
    np.testing.assert_array_equal(predict(model, x, compute=ctx), predict(model, x, device="cpu", precision="32",
                                                                          batch_size=2))
    attr, _ = attribute(model, x, method="saliency", compute=ctx)
    w = model.weight.detach().numpy()[0]
    np.testing.assert_allclose(attr, (w - w.mean(0)) * x, atol=1e-6)  # the gradient centred over the bases
    ism_ctx, _ = attribute(model, x, method="ism", compute=ctx)
    ism_kw, _ = attribute(model, x, method="ism", device="cpu", precision="32")
    np.testing.assert_array_equal(ism_ctx, ism_kw)
    with pytest.raises(ValueError, match="needs gradients"):
        attribute(model, x, method="saliency", compute=Compute(engine="onnxruntime"))


def test_global_importance_takes_a_context_as_its_keywords():
    """motif_effect and pair_effect (the report's global importance) run with one context: the same numbers as
    with its settings as keywords, and a setting given both ways differently is refused."""
    from seq2expr.interpret import global_importance as gi

    model = linear_model(L)
    bg = random_onehot(12, L, seed=4)
    pwm = np.eye(4)[:, [0, 1, 2]] * 0.9 + 0.025
    ctx = Compute(device="cpu", precision="32", batch_size=5)
    by_ctx = gi.motif_effect(model, {"m": pwm}, bg, positions=[2, 6], compute=ctx)
    by_kw = gi.motif_effect(model, {"m": pwm}, bg, positions=[2, 6], device="cpu", precision="32", batch_size=5)
    pd.testing.assert_frame_equal(by_ctx, by_kw)
    w = model.weight.detach().numpy()[0]  # linear: inserting at p changes the output by the weights there
    inst = gi.motif_instances(pwm, 1)[0]
    want = [(w[:, p:p + 3] * inst).sum() - (w[:, p:p + 3] * bg[:, :, p:p + 3]).sum((1, 2)).mean() for p in (2, 6)]
    np.testing.assert_allclose(by_ctx[by_ctx["strand"] == "+"]["effect"], want, atol=1e-5)
    pair = gi.pair_effect(model, pwm, pwm, bg, spacings=[1], compute=ctx)
    np.testing.assert_allclose(pair["interaction"], 0, atol=1e-5)  # a linear model has no grammar
    with pytest.raises(ValueError, match="batch_size given twice"):
        gi.motif_effect(model, {"m": pwm}, bg, compute=ctx, batch_size=7)


def test_compute_options_are_declared_once():
    """Every command that takes --device, --precision, --batch-size, --engine or --threads declares it the same
    way (one help text, one set of choices); the demo's --threads is its own (fixed at 2: its numbers depend on
    it)."""
    import typer

    from seq2expr.cli.main import app

    seen: dict[str, set[str]] = {}
    commands = typer.main.get_command(app).commands
    groups = [c for c in commands.values() if hasattr(c, "commands")]
    for cmd in [*commands.values(), *(sub for g in groups for sub in g.commands.values())]:
        if cmd.name == "demo":
            continue
        for param in cmd.params:
            name = param.opts[0] if param.opts else ""
            if name in ("--device", "--precision", "--batch-size", "--engine", "--threads"):
                seen.setdefault(name, set()).add(param.help or "")
    assert set(seen) == {"--device", "--precision", "--batch-size", "--engine", "--threads"}
    assert all(len(helps) == 1 for helps in seen.values()), seen


def test_every_verb_on_a_model_takes_the_readout_in_one_declaration():
    """Each command that runs a saved model (a MODEL_DIR and --device) takes --target and --readout, declared by
    one of the two shared options (every output by default, or one output where the verb needs one)."""
    import typer

    from seq2expr.cli.common import ONE_OUTPUT_HELP, READOUT_HELP
    from seq2expr.cli.main import app

    commands = typer.main.get_command(app).commands
    groups = [c for c in commands.values() if hasattr(c, "commands")]
    taking = {}
    for cmd in [*commands.values(), *(sub for g in groups for sub in g.commands.values())]:
        params = {p.name: p for p in cmd.params}
        if "model_dir" in params and any("--device" in (p.opts or []) for p in cmd.params):
            readout = params.get("target")
            assert readout is not None and set(readout.opts) == {"--target", "--readout"}, cmd.name
            taking[cmd.name] = readout.help
    assert set(taking) == {"predict", "evaluate", "interpret", "variants", "design"}
    assert {taking[c] for c in ("predict", "evaluate", "variants")} == {READOUT_HELP}
    assert {taking[c] for c in ("interpret", "design")} == {ONE_OUTPUT_HELP}


def test_no_command_writes_its_options_a_third_time():
    """No command passes its own parameters on as a list of ``x=x`` keywords (four or more to one call): options go
    to the library through ``call_by_name``/``keywords_by_name``, so each is written as a parameter and in the
    library only."""
    import ast
    from pathlib import Path

    cli = Path(__file__).resolve().parents[1] / "seq2expr" / "cli"
    found = []
    for path in sorted(cli.glob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef) and fn.name.endswith("_cmd"):
                params = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
                for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
                    same = [k.arg for k in call.keywords
                            if isinstance(k.value, ast.Name) and k.value.id == k.arg and k.arg in params]
                    if len(same) >= 4:
                        found.append(f"{path.name}:{call.lineno} {ast.unparse(call.func)}({', '.join(same)})")
    assert not found, found


def test_commands_pass_their_options_by_name():
    """A command's options class is built, or its library function called, from its parameters by name: a converted
    or renamed value wins, an argument left at its default must be named, and one with no parameter (a new option a
    command missed) is an error, not a silent default."""
    from seq2expr.cli.common import call_by_name, keywords_by_name
    from seq2expr.variants import ScoreOptions

    params = {"mode": "centred", "background": 3, "top": 2, "out": "ignored", "genes": None, "annotation": None,
              "tss_bed": None, "tss_names": None, "match_chromosomes": True, "on_ref_mismatch": "skip",
              "on_unknown_chromosome": "error", "batch_size": 7, "device": "cpu", "seed": 1, "precision": "32",
              "chunk_size": 10, "engine": "torch", "attributions": "none"}
    opts = call_by_name(ScoreOptions, params, construct=("AC", "GT"), readout="diff:a,b")
    assert (opts.mode, opts.background, opts.construct, opts.readout, opts.batch_size) == \
        ("centred", 3, ("AC", "GT"), "diff:a,b", 7)
    with pytest.raises(TypeError, match=r"ScoreOptions: no command parameter for \['readout'\]"):
        call_by_name(ScoreOptions, params, construct=None)
    assert call_by_name(ScoreOptions, params, construct=None, leave=["readout"]).readout is None
    with pytest.raises(TypeError, match=r"ScoreOptions takes no \['scale'\]"):
        call_by_name(ScoreOptions, params, construct=None, readout=None, scale="model")

    def library(model, data, *, batch_size: int = 512, readout=None, seed: int = 0):
        return model, data, batch_size, readout, seed

    assert call_by_name(library, params, model="m", data="d", readout="a", leave=["seed"]) == ("m", "d", 7, "a", 0)
    assert keywords_by_name(library, params, readout="a", leave=["model", "data"]) == \
        {"batch_size": 7, "readout": "a", "seed": 1}
    with pytest.raises(TypeError, match=r"library: no command parameter for \['model', 'data'\]"):
        keywords_by_name(library, params, readout="a")
