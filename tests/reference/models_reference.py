#!/usr/bin/env python3
"""Writes the PyTorch side of the model reference test (tests/reference/test_models_reference.cpp).

    /usr/bin/python3 tests/reference/models_reference.py OUTDIR

torchvision resnet18 and resnet50 (random weights and random BN running statistics, eval mode): weights as
safetensors, an input batch and the logits as .npy. resnet20 for CIFAR in plain PyTorch (the common
option-A implementation: zero-padded, subsampled shortcuts), in training mode: weights, input, labels,
the mean cross-entropy loss and every parameter's gradient, in float32 and float64.

A ReLU whose input lies within float32 rounding of zero can pass or block its gradient depending on
the last bit, so float32 implementations may legitimately disagree there (and everything upstream of
it with them). The resnet20 input is therefore drawn (seed after seed) so that no ReLU input lies
within KINK_MARGIN of zero; the float64 comparison needs no such care.
"""
import copy
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file


KINK_MARGIN = 3e-6
RELU_INPUTS = []  # filled during a forward when recording


def relu(x):
    RELU_INPUTS.append(x.detach())
    return F.relu(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2 if (stride != 1 or cin != cout) else None

    def forward(self, x):
        out = relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return relu(out + short)


class ResNetCifar(nn.Module):
    def __init__(self, depth=20, in_channels=3, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for i, width in enumerate((16, 32, 64)):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, width, 2 if (i > 0 and b == 0) else 1))
                cin = width
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def state(model):
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    torch.set_num_threads(2)
    with torch.no_grad():
        for name in ("resnet18", "resnet50"):
            model = getattr(torchvision.models, name)(num_classes=1000)
            randomize_bn(model, gen)
            model.eval()
            x = torch.randn(2, 3, 64, 64, generator=gen)
            save_file(state(model), os.path.join(out, f"{name}.safetensors"))
            np.save(os.path.join(out, f"{name}_x.npy"), x.numpy())
            np.save(os.path.join(out, f"{name}_logits.npy"), model(x).numpy())

    model = ResNetCifar(20)
    randomize_bn(model, gen)
    model.train()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    save_file(state(model), os.path.join(out, "resnet20.safetensors"))
    # An input whose ReLU inputs all keep KINK_MARGIN away from zero (checked in float64).
    probe = copy.deepcopy(model).double()
    for seed in range(1000):
        g = torch.Generator().manual_seed(1000 + seed)
        x = torch.randn(4, 3, 32, 32, generator=g, dtype=torch.float64)
        labels = torch.randint(0, 10, (4,), generator=g)
        RELU_INPUTS.clear()
        with torch.no_grad():
            probe(x)
        closest = min(t.abs()[t != 0].min().item() for t in RELU_INPUTS)
        if closest > KINK_MARGIN:
            break
    else:
        sys.exit("no input without near-zero ReLU inputs found")
    RELU_INPUTS.clear()
    np.save(os.path.join(out, "resnet20_labels.npy"), labels.numpy())
    for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        m = copy.deepcopy(model).to(dtype)
        m.load_state_dict(initial)
        xd = x.to(dtype)
        loss = F.cross_entropy(m(xd), labels)
        loss.backward()
        RELU_INPUTS.clear()
        save_file({k: p.grad.contiguous() for k, p in m.named_parameters()},
                  os.path.join(out, f"resnet20_grads_{tag}.safetensors"))
        np.save(os.path.join(out, f"resnet20_x_{tag}.npy"), xd.numpy())
        np.save(os.path.join(out, f"resnet20_loss_{tag}.npy"), np.array([loss.item()], dtype=np.float64))
        # The running statistics after one training-mode forward (momentum 0.1, unbiased variance).
        save_file(state(m), os.path.join(out, f"resnet20_after_{tag}.safetensors"))


if __name__ == "__main__":
    main()
