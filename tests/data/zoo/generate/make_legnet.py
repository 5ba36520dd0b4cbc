"""LegNet fixture: the ORIGINAL autosome-ru/LegNet code (legnet/model.py + legnet/test.py, run unmodified on CPU)
with random weights at a reduced size. Writes a state dict saved as legnet/train.py saves it, the input table and
test.py's predictions."""
import os
import sys
from pathlib import Path

import numpy as np
import torch

variant, blocks, ks = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
out = f"/tmp/fixtures/out/legnet_{variant}"
os.makedirs(out, exist_ok=True)
sys.path.insert(0, "/tmp/fixtures/legnet")
from model import SeqNN  # noqa: E402  (the original, from the path above)

torch.manual_seed(int(ks) + len(blocks))
net = SeqNN(seqsize=150, use_single_channel=True, block_sizes=[int(b) for b in blocks], ks=int(ks), resize_factor=4,
            se_reduction=4.0, final_ch=18)
with torch.no_grad():  # random BN statistics and TRL factors, so no layer is an identity
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.normal_(1, 0.2)
            m.bias.normal_(0, 0.2)
    for name, p in net.named_parameters():
        if "trl" in name:
            p.normal_(0, 0.3)
    net.seqextractor["blc0"][0].weight.mul_(8.0)  # sequence-dependent features
    net.mapper[0].weight.mul_(40.0)
    net.mapper[0].bias.normal_(0, 2.0)  # spread the bin logits
torch.save(net.state_dict(), f"{out}/model_1.pth")  # as legnet/train.py: torch.save(model.state_dict(), ...)

rng = np.random.default_rng(len(blocks))
left, right = "TGCATTTTTTTCACATC", "GGTTACGGCTGTT"
seqs = [left + "".join(rng.choice(list("ACGT"), 80)) + right for _ in range(12)]
seqs[3] = seqs[3][:40] + "N" + seqs[3][41:]          # an N inside
seqs[5] = seqs[5][:60] + "NNN" + seqs[5][63:]
# bin 0.5: not an integer, so test.py's integer rule gives is_singleton = 0, the value the authors predicted with
with open(f"{out}/input.txt", "w") as fh:
    fh.writelines(f"{s}\t0.5\n" for s in seqs)

sys.argv = ["test.py", "--target", f"{out}/input.txt", "--seed", "42", "--valid_batch_size", "5", "--valid_workers",
            "0", "--seqsize", "150", "--use_single_channel", "--singleton_definition", "integer", "--ks", ks,
            "--blocks", *blocks, "--resize_factor", "4", "--se_reduction", "4", "--final_ch", "18", "--delimiter",
            "tab", "--output_format", "tsv", "--output", f"{out}/results.tsv", "--model", f"{out}/model_1.pth"]
src = Path("/tmp/fixtures/legnet/test.py").read_text()
assert src.count('torch.device(f"cuda:{args.gpu}")') == 1
src = src.replace('torch.device(f"cuda:{args.gpu}")', 'torch.device("cpu")')  # the only change: run on CPU
exec(compile(src, "/tmp/fixtures/legnet/test.py", "exec"), {"__name__": "__main__"})
print(Path(f"{out}/results.tsv").read_text()[:300])
