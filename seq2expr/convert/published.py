"""The importers of the field's published models: LegNet (DREAM 2022; Vaishnav et al. complex and defined media),
Camformer and Camformer-Mini, Enformer and Borzoi. Each reads the sizes off the checkpoint and maps the original
parameter names onto the registered architecture (see :mod:`seq2expr.convert.importers`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from seq2expr.config import Positions
from seq2expr.convert.registry import Converted, Options, importer, read_run_config, read_weights, record_of
from seq2expr.files import FileError
from seq2expr.models.camformer import LARGE, MINI

DREAM_LEN = 110  # the DREAM / Vaishnav construct: 17-nt adapter + 80-nt variable region + 13-nt adapter


def _shape(state: dict[str, torch.Tensor], key: str, source: Path) -> tuple[int, ...]:
    if key not in state:
        raise FileError(source, f"no {key!r}: not a checkpoint of this kind of model")
    return tuple(state[key].shape)


@importer("legnet-dream2022", "legnet-complex", "legnet-defined")
def legnet(weights: Path, options: Options) -> Converted:
    """autosome-ru/LegNet ``legnet/model.py`` ``SeqNN`` state dicts (``models/*/model_*.pth``)."""
    state, _ = read_weights(weights)
    out0, in_ch, ks = _shape(state, "seqextractor.blc0.0.weight", weights)
    sizes, i = [out0], 0
    while f"seqextractor.resize_blc{i}.0.weight" in state:
        sizes.append(state[f"seqextractor.resize_blc{i}.0.weight"].shape[0])
        i += 1
    if i == 0:
        raise FileError(weights, "no LegNet blocks (seqextractor.resize_blc0) in this checkpoint")
    inner = state["seqextractor.inv_res_blc0.0.weight"].shape[0]
    mid = state["seqextractor.inv_res_blc0.6.fc.0.weight"].shape[0]
    params = {"block_sizes": sizes, "ks": ks, "resize_factor": inner // sizes[1],
              "filter_per_group": state["seqextractor.inv_res_blc0.3.weight"].shape[1],
              "se_reduction": sizes[0] / mid, "final_ch": state["mapper.0.weight"].shape[0],
              "use_single_channel": in_ch == 6}
    return Converted("legnet2022", params, DREAM_LEN, state, n_value=0.25, target_names=["expression"])


_CAMFORMER_CLASSES = ("base.model.CNN", "base.model.Conv2dSame", "base.model_basic.CNN", "__main__.CNN",
                      "__main__.Conv2dSame", "model.CNN", "model.Conv2dSame", "model_basic.CNN")


@importer("camformer", "camformer-mini")
def camformer(weights: Path, options: Options) -> Converted:
    """gautammalik-git/Camformer checkpoints: the whole pickled model Camformer saves (read as data), or a state
    dict with the run's ``config.json`` (its ``model_args``) or the published sizes."""
    raw, obj = read_weights(weights, _CAMFORMER_CLASSES)
    record = record_of(obj)
    mini = record.qualname.endswith("model_basic.CNN") if record else options.kind == "camformer-mini"
    defaults = dict(MINI if (mini or _first_in(raw, weights) == 5) else LARGE)
    args = _camformer_args(record, read_run_config(weights, options), defaults)
    state: dict[str, torch.Tensor] = {}
    out_channels, kernels = [], []
    for key, t in raw.items():
        key = key.replace(".0.conv.", ".0.")  # Conv2dSame wraps its convolution
        if key.startswith("CNN_layers.") and t.dim() == 4:  # (out, in, k, 1) -> (out, in, k)
            if t.shape[-1] != 1:
                raise FileError(weights, f"{key}: kernel {tuple(t.shape[2:])} is not (k, 1)")
            t = t[..., 0]
            out_channels.append(t.shape[0])
            kernels.append(t.shape[2])
        state[key] = t
    linear = [raw[k].shape[0] for k in raw if k.startswith("linear_layers.") and k.endswith(".0.weight")][:-1]
    params = {**args, "out_channels": out_channels, "kernels": kernels, "linear_output": linear,
              "purine_channel": _first_in(raw, weights) == 5}
    n_value = 0.25 if params["purine_channel"] else 0.0  # onehotWithP reads N as 0.25 each, onehot as 0
    return Converted("camformer", params, DREAM_LEN, state, n_value=n_value, target_names=["expression"])


def _first_in(raw: dict[str, torch.Tensor], weights: Path) -> int:
    key = next((k for k in raw if k.startswith("CNN_layers.0.0.") and k.endswith("weight")), None)
    if key is None:
        raise FileError(weights, "no CNN_layers.0 convolution: not a Camformer checkpoint")
    return raw[key].shape[1]


def _camformer_args(record, run: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Pools, paddings and residual pairs: from the pickled modules, else the run's ``model_args``, else the
    published model's."""
    args = {k: defaults[k] for k in ("pool_kernels", "pool_strides", "paddings", "residual")}
    model_args = run.get("model_args") if isinstance(run.get("model_args"), dict) else {}
    if model_args:
        if "pool_kernels" in model_args:
            args["pool_kernels"] = [int(p[0]) for p in model_args["pool_kernels"]]
            args["pool_strides"] = [int(p[0]) for p in model_args["pool_strides"]]
        pads = model_args.get("paddings", args["paddings"])
        args["paddings"] = "same" if pads == "same" else [int(p[0]) for p in pads]
    if record is not None:
        layers = list(record.children["CNN_layers"].children.values())
        pools = [next((c for c in layer.children.values() if c.kind.startswith("MaxPool")), None) for layer in layers]
        args["pool_kernels"] = [_first(p.state["kernel_size"]) if p else 1 for p in pools]
        args["pool_strides"] = [_first(p.state["stride"]) if p else 1 for p in pools]
        convs = [layer.children["0"] for layer in layers]
        args["paddings"] = ("same" if all(c.kind == "Conv2dSame" for c in convs)
                            else [_first(c.state.get("padding", 0)) for c in convs])
        args["residual"] = not record.qualname.endswith("model_basic.CNN")
    return args


def _first(v: Any) -> int:
    return int(v[0]) if isinstance(v, list | tuple) else int(v)


# ------------------------------------------------------------------------------------------ genome-track models

_ENFORMER_KEYS = ("dim", "depth", "heads", "output_heads", "target_length", "attn_dim_key", "dropout_rate",
                  "attn_dropout", "pos_dropout", "num_downsamples", "dim_divisible_by")
_BORZOI_KEYS = ("dim", "depth", "heads", "return_center_bins_only", "attn_dim_key", "attn_dim_value", "dropout_rate",
                "attn_dropout", "pos_dropout", "enable_mouse_head", "bins_to_return")


def _tracks(options: Options, n_available: int) -> tuple[list[int], list[str]]:
    tracks = options.tracks or [0]
    bad = [t for t in tracks if not 0 <= t < n_available]
    if bad:
        raise ValueError(f"--tracks {bad} outside the model's {n_available} tracks (0..{n_available - 1})")
    names = options.target_names or [f"track_{t}" for t in tracks]
    if len(names) != len(tracks):
        raise ValueError(f"{len(names)} --target-names for {len(tracks)} --tracks")
    return tracks, names


def _tss_positions(options: Options) -> Positions:
    """The bins a gene model reads by default: ``--tss-bins`` (3) around the centre of a window centred on the TSS,
    joined by ``--aggregate`` (mean)."""
    k = 3 if options.tss_bins is None else options.tss_bins
    return Positions(bins=f"centre:{k}", aggregate=options.aggregate or "mean")


def _with_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"net.{k}": v for k, v in state.items()}


@importer("enformer")
def enformer(weights: Path, options: Options) -> Converted:
    """enformer-pytorch checkpoints (a Hugging Face snapshot: ``config.json`` + ``pytorch_model.bin`` or
    ``model.safetensors``; the published EleutherAI/enformer-official-rough)."""
    state, _ = read_weights(weights)
    run = read_run_config(weights, options)
    config = {k: run[k] for k in _ENFORMER_KEYS if k in run}
    published = config.get("dim", 1536) == 1536 and config.get("depth", 11) == 11
    head = "human"
    n_tracks = state.get(f"_heads.{head}.0.weight", torch.empty(0, 0)).shape[0]
    if not n_tracks:
        raise FileError(weights, "no human head (_heads.human.0.weight): not an Enformer checkpoint")
    tracks, names = _tracks(options, n_tracks)
    seq_len = options.seq_len or 196_608
    tf_gamma = options.tf_gamma if options.tf_gamma is not None else bool(run.get("use_tf_gamma", published))
    params = {"config": config, "head": head, "tracks": tracks, "use_tf_gamma": tf_gamma}
    return Converted("enformer", params, seq_len, _with_prefix(state), n_value=0.0, target_names=names,
                     tss_window=True, positions=_tss_positions(options))


@importer("borzoi")
def borzoi(weights: Path, options: Options) -> Converted:
    """borzoi-pytorch checkpoints (a Hugging Face snapshot: ``config.json`` + weights; johahi/borzoi-replicate-0)."""
    state, _ = read_weights(weights)
    run = read_run_config(weights, options)
    config = {k: run[k] for k in _BORZOI_KEYS if k in run}
    state = {k: v for k, v in state.items() if not k.startswith("human_head_bak.")}
    n_tracks = state.get("human_head.weight", torch.empty(0)).shape[0] if "human_head.weight" in state else 0
    if not n_tracks:
        raise FileError(weights, "no human head (human_head.weight): not a Borzoi checkpoint")
    tracks, names = _tracks(options, n_tracks)
    params = {"config": config, "tracks": tracks}
    return Converted("borzoi", params, options.seq_len or 524_288, _with_prefix(state), n_value=0.0,
                     target_names=names, tss_window=True, positions=_tss_positions(options))
