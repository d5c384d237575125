#!/usr/bin/env python3
"""torchvision's side of minidl_bench_data: ImageFolder + DataLoader with the same transforms.

    /usr/bin/python3 tools/bench/torchvision_data.py --root /tmp/minidl_bench_jpeg \
        --batch 64 --workers 2 --batches 24

RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize(ImageNet mean/std), shuffled.
The first batch is a warm-up (worker start, file cache); the rate counts the images of the next
`--batches` batches (the loader runs on across epochs, workers kept alive). Prints one line:
"torchvision images/s: <rate>".
"""
import argparse
import itertools
import time

import torch
import torchvision
from torchvision import transforms


def batches_forever(loader):
    while True:
        yield from loader


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, default=24)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()

    torch.manual_seed(0)
    tf = transforms.Compose([
        transforms.RandomResizedCrop(args.size),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    ds = torchvision.datasets.ImageFolder(args.root, transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True,
                                         num_workers=args.workers, persistent_workers=args.workers > 0)
    it = batches_forever(loader)
    next(it)  # warm-up
    images = 0
    start = time.perf_counter()
    for images_t, labels in itertools.islice(it, args.batches):
        images += images_t.shape[0]
    elapsed = time.perf_counter() - start
    print(f"torchvision images/s: {images / elapsed:.1f}  ({images} images, {elapsed:.2f} s, "
          f"{len(ds)} files, torch {torch.__version__}, torchvision {torchvision.__version__})")


if __name__ == "__main__":
    main()
