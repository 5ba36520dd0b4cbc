"""Camformer fixtures: the ORIGINAL gautammalik-git/Camformer code (base/model.py, base/model_basic.py, the data
loader of base/utils.py and predict() of base/model_utils.py, unmodified) with random weights at a reduced size.
The model is saved the way Camformer saves it (torch.save(model, path): the whole pickled module)."""
import os
import sys

import numpy as np
import pandas as pd
import torch

variant = sys.argv[1]
out = f"/tmp/fixtures/out/camformer_{variant}"
os.makedirs(out, exist_ok=True)
os.chdir("/tmp/fixtures/camformer")
sys.path.insert(0, "/tmp/fixtures/camformer")
from base.model_utils import predict  # noqa: E402  (the original)
from base.utils import createDataLoader  # noqa: E402  (the original)

if variant == "large":
    from base.model import CNN
    seq_enc = "onehot"
    args = dict(feature_height=110, feature_width=1, batch_size=4, input_channels=4, out_channels=[16, 16, 16, 16],
                kernels=[(10, 1)] * 4, pool_kernels=[(1, 1), (1, 1), (10, 1), (1, 1)], paddings="same",
                strides=[(1, 1)] * 4, pool_strides=[(1, 1), (1, 1), (4, 1), (1, 1)], dropouts=[0.3] * 4,
                linear_output=[8, 8], linear_dropouts=[0.0, 0.0])
else:
    from base.model_basic import CNN
    seq_enc = "onehotWithP"
    args = dict(feature_height=110, feature_width=1, batch_size=4, print_size=False, input_channels=5,
                out_channels=[12, 8, 8, 8], kernels=[(5, 1), (6, 1), (6, 1), (5, 1)],
                pool_kernels=[(1, 1), (1, 1), (7, 1), (1, 1)], paddings=[(5, 0)] * 4, strides=[(1, 1)] * 4,
                pool_strides=[(1, 1), (1, 1), (2, 1), (1, 1)], dropouts=[0.2] * 4, linear_output=[6],
                linear_dropouts=[0.0])
torch.manual_seed(7 if variant == "large" else 8)
model = CNN(**args)
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.normal_(1, 0.2)
            m.bias.normal_(0, 0.2)
    first = model.CNN_layers[0][0]
    (first.conv if hasattr(first, "conv") else first).weight.mul_(4.0)  # sequence-dependent features
    model.linear_layers[-1][0].weight.mul_(20.0)
model.eval()
torch.save(model, f"{out}/model.pt")  # as base/model_utils.train: torch.save(model, best_model_path)

rng = np.random.default_rng(3)
left, right = "TGCATTTTTTTCACATC", "GGTTACGGCTGTT"
seqs = [left + "".join(rng.choice(list("ACGT"), 80)) + right for _ in range(10)]
seqs[2] = seqs[2][:50] + "N" + seqs[2][51:]
seqs[6] = seqs[6][:70] + "NN" + seqs[6][72:]
df = pd.DataFrame({"seq": seqs, "expr": np.arange(10, dtype=float) + 0.5})
config = {"seq_enc": seq_enc, "batch_size": 4, "device": "cpu"}
loader = createDataLoader(seq=df[["seq"]], expr=df["expr"], config=config, drop=False)
y_pred, _ = predict(model=model, DataLoader=loader, config=config)
pd.DataFrame({"seq": seqs, "prediction": y_pred}).to_csv(f"{out}/predictions.tsv", sep="\t", index=False)
print(y_pred)
