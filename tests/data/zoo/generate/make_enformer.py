"""Enformer fixture: the ORIGINAL enformer-pytorch package (0.8.12) with random weights at a reduced size, saved as
the published checkpoint is (save_pretrained: config.json + pytorch_model.bin), a few inputs and its outputs."""
import os

import numpy as np
import torch
from enformer_pytorch import Enformer, EnformerConfig

out = "/tmp/fixtures/out/enformer"
os.makedirs(out, exist_ok=True)
torch.manual_seed(11)
model = Enformer(EnformerConfig(dim=48, depth=1, heads=2, output_heads=dict(human=10, mouse=4), target_length=16,
                                attn_dim_key=8, dim_divisible_by=8))
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.5, 2.0)
model.eval()
model.save_pretrained(out, safe_serialization=False)
rng = np.random.default_rng(5)
codes = rng.integers(0, 4, size=(3, 4096))
x = np.eye(4, dtype=np.float32)[codes]
x[1, 2000:2010] = 0.25  # a run of N
with torch.no_grad():
    y = model(torch.from_numpy(x), head="human").numpy()
np.savez_compressed(f"{out}/io.npz", x=x.transpose(0, 2, 1), y=y)  # x as (B, 4, L) A,C,G,T; y (B, bins, tracks)
print(y.shape, y.std(), os.listdir(out))
