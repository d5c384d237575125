#!/usr/bin/env python3
"""PyTorch's figures for the rows of minidl_bench_models: images per second of one SGD iteration
(zero_grad, forward, cross-entropy, backward, step) at batch 128 on synthetic data.

    /usr/bin/python3 tools/bench/torch_models.py --threads 2 [--profile] [--memory-format channels_last]
    python3 tools/bench/torch_models.py --device cuda         # on a GPU machine

The networks in plain PyTorch, as minidl's registry builds them: LeNet as Caffe's (conv 20 5x5,
max pool 2, conv 50 5x5, max pool 2, fc 500, ReLU, fc 10) on 1x28x28; the CIFAR ResNets (BasicBlocks
of 16/32/64 channels, option-A shortcuts: subsample and zero-pad channels on both sides, as
tests/reference/models_reference.py) resnet20 on 1x28x28 and resnet56 on 3x32x32; torchvision's
resnet50 (v1.5, written out here: torchvision need not be installed) on 3x224x224 with 1000 classes;
the pre-activation Wide ResNet wrn28_10 (models/wrn.cpp) on 3x32x32. SGD momentum 0.9,
weight decay 5e-4. Same timing as the C++ program: warm-up iterations, then the median of timed
runs (at least --runs of them and --min-time seconds). --profile prints the per-layer lines minidl_bench_models --profile prints (same keys).
On a GPU both libraries keep their defaults: cuDNN may use TF32 for f32 convolutions (PyTorch's
torch.backends.cudnn.allow_tf32, minidl's conv_allow_tf32()), and PyTorch autotunes (cudnn.benchmark).
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name: (input channels, image size, classes)
NETS = {"lenet": (1, 28, 10), "resnet20": (1, 28, 10), "resnet56": (3, 32, 10),
        "resnet50": (3, 224, 1000), "wrn28_10": (3, 32, 10)}


class ZeroPadShortcut(nn.Module):
    """Option A: keep every stride-th pixel, add (out - in) / 2 zero channels on each side."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride, self.pad = stride, (cout - cin) // 2

    def forward(self, x):
        s = self.stride
        return F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        changed = stride != 1 or cin != cout
        self.downsample = ZeroPadShortcut(cin, cout, stride) if changed else None

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        short = x if self.downsample is None else self.downsample(x)
        return F.relu(out + short)


def resnet_cifar(depth, in_channels, num_classes=10):
    n = (depth - 2) // 6
    layers = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for i, width in enumerate((16, 32, 64)):
        for b in range(n):
            layers.append(BasicBlock(cin, width, 2 if (i > 0 and b == 0) else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


def lenet(in_channels, size, num_classes=10):
    s = ((size - 4) // 2 - 4) // 2
    return nn.Sequential(nn.Conv2d(in_channels, 20, 5), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5),
                         nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(50 * s * s, 500), nn.ReLU(),
                         nn.Linear(500, num_classes))


class Bottleneck(nn.Module):
    """torchvision's v1.5 Bottleneck: 1x1, 3x3 (with the stride), 1x1 x4, projection 1x1 + BN."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def resnet50(in_channels, num_classes):
    layers = [nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, blocks in enumerate((3, 4, 6, 3)):
        for b in range(blocks):
            layers.append(Bottleneck(cin, 64 << stage, 2 if (stage > 0 and b == 0) else 1))
            cin = (64 << stage) * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


class WideBlock(nn.Module):
    """Pre-activation: BN-ReLU-conv3x3-BN-ReLU-conv3x3; when the shape changes, the 1x1 projection
    takes the block's pre-activated input (models/wrn.cpp, the authors' code)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.relu = nn.ReLU()
        self.shortcut = None if cin == cout and stride == 1 else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        a = self.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(a))))
        return out + (x if self.shortcut is None else self.shortcut(a))


def wrn(depth, widen, in_channels, num_classes):
    n = (depth - 4) // 6
    layers = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)]
    cin = 16
    for g, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
        for b in range(n):
            layers.append(WideBlock(cin, width, 2 if (g > 0 and b == 0) else 1))
            cin = width
    layers += [nn.BatchNorm2d(cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


def make(name):
    c, size, classes = NETS[name]
    if name == "lenet":
        return lenet(c, size, classes)
    if name == "resnet50":
        return resnet50(c, classes)
    if name == "wrn28_10":
        return wrn(28, 10, c, classes)
    return resnet_cifar(int(name[6:]), c, classes)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class Trainer:
    def __init__(self, name, batch, dev, memory_format=torch.contiguous_format, amp=False):
        c, size, classes = NETS[name]
        self.net = make(name).to(dev, memory_format=memory_format).train()
        gen = torch.Generator().manual_seed(7)
        x = (torch.rand(batch, c, size, size, generator=gen) * 2 - 1).to(dev)
        self.x = x.contiguous(memory_format=memory_format)
        self.labels = ((torch.arange(batch) * 7 + 3) % classes).to(dev)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        self.loss = None
        self.amp = amp  # bf16 autocast (PyTorch's AMP): minidl's --precision bf16

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(self.x.device.type, dtype=torch.bfloat16, enabled=self.amp):
            self.loss = F.cross_entropy(self.net(self.x), self.labels)
        self.loss.backward()
        self.opt.step()


# ---- per-layer profile (the keys and lines of minidl_bench_models --profile) ----

TYPE = {"AdaptiveAvgPool2d": "GlobalAvgPool2d"}


def dims(shape):
    return "x".join(str(d) for d in shape)


def layer_key(m, x_shape, y_shape):
    kind = TYPE.get(type(m).__name__, type(m).__name__)
    if isinstance(m, nn.Conv2d):
        kind += f"({m.in_channels},{m.out_channels},k{m.kernel_size[0]},s{m.stride[0]})"
    return f"{kind} {dims(x_shape)} -> {dims(y_shape)}"


def time_calls(fn, dev, reps):
    """The fastest of `reps` calls after a warm-up: the least disturbed call is the best estimate of
    a layer's own cost (per-layer profile only)."""
    fn()
    sync(dev)
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        t.append(time.perf_counter() - t0)
    return min(t)


def print_cost(what, count, fwd, bwd, step):
    print(f"  layer {what:<58} x{count:<3d} fwd {fwd * 1e3:8.2f} ms  bwd {bwd * 1e3:8.2f} ms  "
          f"({100.0 * (fwd + bwd) / step:4.1f}%)")


def record_calls(t):
    """Every leaf module with the input it sees in one forward of the network, in order, and every
    BasicBlock with its input and the range of its leaves in that list."""
    leaves, blocks, hooks = [], [], []
    for m in t.net.modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(
                lambda m, inp, out: leaves.append((m, inp[0].detach().clone(), out.shape))))
        elif isinstance(m, BasicBlock):
            hooks.append(m.register_forward_pre_hook(lambda m, inp: setattr(m, "_first", len(leaves))))
            hooks.append(m.register_forward_hook(lambda m, inp, out: blocks.append(
                (m, inp[0].detach().clone(), out.shape, m._first, len(leaves)))))
    with torch.no_grad():
        t.net(t.x)
    for h in hooks:
        h.remove()
    return leaves, blocks


def time_pair(m, x, y_shape, needs_dx, dev, reps):
    """Forward and backward alternating, as in training: the fastest of `reps` pairs after a warm-up."""
    xin = x.clone().requires_grad_(needs_dx)
    dy = torch.rand(y_shape, device=dev) * 2 - 1
    fwd, bwd = [], []
    for _ in range(reps + 1):
        sync(dev)
        t0 = time.perf_counter()
        y = m(xin)
        sync(dev)
        t1 = time.perf_counter()
        y.backward(dy)
        sync(dev)
        fwd.append(t1 - t0)
        bwd.append(time.perf_counter() - t1)
        del y
    return min(fwd[1:]), min(bwd[1:])


def add_cost(table, key, fwd, bwd):
    c = table.setdefault(key, [0, 0.0, 0.0])
    c[0] += 1
    c[1] += fwd
    c[2] += bwd


def profile(t, name, batch, dev, step_seconds, reps=5):
    order, by_layer, by_type, leaf_cost = [], {}, {}, []
    leaves, blocks = record_calls(t)
    for i, (m, x, y_shape) in enumerate(leaves):
        # The network's input needs no gradient (its first layer computes no dx); the others do.
        fwd, bwd = time_pair(m, x, y_shape, i > 0, dev, reps)
        leaf_cost.append((fwd, bwd))
        key = layer_key(m, x.shape, y_shape)
        if key not in by_layer:
            order.append(key)
        add_cost(by_layer, key, fwd, bwd)
        add_cost(by_type, key.split(" ")[0].split("(")[0], fwd, bwd)
    # A block's own work (the add and the ReLU after it): the whole block less its layers.
    for m, x, y_shape, first, end in blocks:
        fwd, bwd = time_pair(m, x, y_shape, True, dev, reps)
        add_cost(by_type, "Residual add + ReLU (block less its layers)",
                 fwd - sum(c[0] for c in leaf_cost[first:end]), bwd - sum(c[1] for c in leaf_cost[first:end]))
    t.opt.zero_grad(set_to_none=True)
    logits = t.net(t.x).detach().requires_grad_()
    loss_f = time_calls(lambda: F.cross_entropy(logits, t.labels), dev, reps)
    loss_b = []
    for _ in range(reps + 1):
        loss = F.cross_entropy(logits, t.labels)
        sync(dev)
        t0 = time.perf_counter()
        loss.backward()
        sync(dev)
        loss_b.append(time.perf_counter() - t0)
    by_type["SoftmaxCrossEntropy"] = [1, loss_f, min(loss_b[1:])]
    # Gradients exist now (the network's own, from the layers' backward calls).
    for p in t.net.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    by_type["zero_grad"] = [1, time_calls(lambda: t.opt.zero_grad(set_to_none=True), dev, reps), 0.0]
    for p in t.net.parameters():
        p.grad = torch.zeros_like(p)
    by_type["SGD step"] = [1, 0.0, time_calls(t.opt.step, dev, reps)]

    print(f"\nprofile {name} ({dev}, batch {batch}): fastest of {reps} forward/backward pairs per layer, in place")
    for key in order:
        print_cost(key, *by_layer[key], step_seconds)
    parts = 0.0
    for kind in sorted(by_type):
        print_cost("type " + kind, *by_type[kind], step_seconds)
        parts += by_type[kind][1] + by_type[kind][2]
    print(f"  total of the parts {parts * 1e3:.2f} ms; whole iteration {step_seconds * 1e3:.2f} ms; "
          f"rest {(step_seconds - parts) * 1e3:.2f} ms")


def bench(name, args, dev):
    fmt = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    t = Trainer(name, args.batch, dev, fmt, amp=args.amp)
    iters = args.iters or (10 if dev.type == "cuda" else 1)
    for _ in range(args.warmup):
        t.step()
    sync(dev)
    first = t.loss.item()
    per_iter, start = [], time.perf_counter()
    while len(per_iter) < args.runs or time.perf_counter() - start < args.min_time:
        t0 = time.perf_counter()
        for _ in range(iters):
            t.step()
        sync(dev)
        per_iter.append((time.perf_counter() - t0) / iters)
    s = statistics.median(per_iter)
    c, size, _ = NETS[name]
    print(f"  {name:<9} {f'{c}x{size}x{size}':<8} batch {args.batch}: {args.batch / s:9.1f} img/s  "
          f"({s * 1e3:.2f} ms/iteration, median of {len(per_iter)} runs of {iters}; "
          f"range {args.batch / max(per_iter):.1f}-{args.batch / min(per_iter):.1f} img/s; "
          f"{sum(p.numel() for p in t.net.parameters())} parameters; "
          f"loss {first:.3f} -> {t.loss.item():.3f})", flush=True)
    if args.profile:
        profile(t, name, args.batch, dev, s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="lenet,resnet20,resnet56")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", type=int, default=10, help="timed runs, at least")
    ap.add_argument("--min-time", type=float, default=2.0, help="seconds of timed runs, at least")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=0, help="iterations per run (0: 1 on cpu, 10 on cuda)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--memory-format", default="contiguous", choices=["contiguous", "channels_last"],
                    help="the model's and the batch's layout (torch.channels_last)")
    ap.add_argument("--amp", action="store_true",
                    help="bf16 autocast (minidl_bench_models --precision bf16)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    threads = "" if dev.type == "cuda" else f" ({torch.get_num_threads()} threads)"
    print(f"PyTorch {torch.__version__} model benchmark on {dev}{threads}: zero_grad + forward + "
          f"loss + backward + SGD step, synthetic data, {args.memory_format}"
          f"{', bf16 autocast' if args.amp else ''}", flush=True)
    torch.manual_seed(0)
    for name in args.models.split(","):
        if name not in NETS:
            raise SystemExit(f"torch_models.py: unknown model '{name}' (known: {', '.join(NETS)})")
        bench(name, args, dev)


if __name__ == "__main__":
    main()
