#!/usr/bin/env python
"""Build backprop/_data/digits.npz, the small dataset that `backprop.data.load_digits` ships.

Source: the UCI ML hand-written digits dataset (E. Alpaydin and C. Kaynak, 1998; "Optical Recognition of
Handwritten Digits", UCI Machine Learning Repository, CC BY 4.0), taken from the copy that scikit-learn
bundles (`sklearn.datasets.load_digits`, the UCI set's test part, 13 writers): 1,797 images of 8x8 pixels,
each pixel an integer 0..16 (how many pixels of a 4x4 block of the original 32x32 bitmap were set), and
the digit 0..9 drawn.

Run it by hand, from the repo root, when the file needs rebuilding (tests never run it):

    pip install scikit-learn         # dev-time only: NOT a dependency of backprop
    python tools/make_digits.py      # writes backprop/_data/digits.npz and prints its checksums
    python tools/make_digits.py --check   # exit 1 unless the committed file is what this script makes

The file holds (all read with `np.load(..., allow_pickle=False)`):
    images     uint8 (1797, 8, 8)  pixel counts 0..16
    targets    uint8 (1797,)       the digit, 0..9
    train_idx  int16 (1438,)       sorted indices of the training split
    valid_idx  int16 (359,)        sorted indices of the validation split
The split is stratified: for every digit, a fixed-seed permutation of its samples puts round(20%) in
`valid_idx` and the rest in `train_idx`, so both splits have (almost exactly) the class balance of the whole.
The zip is written with fixed timestamps, so the same inputs give byte-identical files.
"""
import argparse, hashlib, io, sys, zipfile
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / 'backprop' / '_data' / 'digits.npz'
SEED, VALID_FRAC = 23, 0.2

def digits_arrays():
    "images (uint8 N,8,8), targets (uint8 N,) from scikit-learn's bundled copy."
    try: from sklearn.datasets import load_digits
    except ImportError: sys.exit("make_digits: needs scikit-learn at build time only: pip install scikit-learn")
    d = load_digits()
    images, targets = d.images, d.target
    assert images.shape == (1797, 8, 8) and targets.shape == (1797,), (images.shape, targets.shape)
    assert np.all(images == np.round(images)) and images.min() == 0 and images.max() == 16
    return images.astype(np.uint8), targets.astype(np.uint8)

def stratified_split(targets, frac=VALID_FRAC, seed=SEED):
    "Sorted (train_idx, valid_idx): per class, a seeded permutation puts round(frac * n_class) in valid."
    rng = np.random.default_rng(seed)
    valid = []
    for c in np.unique(targets):                       # 10 classes: a loop over classes, not samples
        idx = rng.permutation(np.flatnonzero(targets == c))
        valid.append(idx[:int(round(frac * len(idx)))])
    valid = np.sort(np.concatenate(valid))
    train = np.setdiff1d(np.arange(len(targets)), valid)
    return train.astype(np.int16), valid.astype(np.int16)

def npz_bytes(arrays:dict)->bytes:
    "A compressed .npz (as np.savez_compressed) with fixed zip timestamps, so the bytes are reproducible."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for k, v in arrays.items():
            info = zipfile.ZipInfo(f'{k}.npy', date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            b = io.BytesIO(); np.lib.format.write_array(b, np.ascontiguousarray(v), allow_pickle=False)
            z.writestr(info, b.getvalue(), compresslevel=9)
    return buf.getvalue()

def build()->bytes:
    images, targets = digits_arrays()
    train, valid = stratified_split(targets)
    return npz_bytes(dict(images=images, targets=targets, train_idx=train, valid_idx=valid))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--check', action='store_true', help='compare with the existing file instead of writing')
    ap.add_argument('--out', type=Path, default=OUT)
    a = ap.parse_args()
    data = build()
    if a.check:
        same = a.out.exists() and a.out.read_bytes() == data
        print(f"{a.out}: {'up to date' if same else 'DIFFERS from what make_digits.py builds'}")
        sys.exit(0 if same else 1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_bytes(data)
    with np.load(a.out, allow_pickle=False) as f:
        for k in f.files:
            v = f[k]
            print(f"{k:10s} {str(v.dtype):6s} {str(v.shape):12s} sha256 {hashlib.sha256(v.tobytes()).hexdigest()}")
    print(f"wrote {a.out} ({a.out.stat().st_size} bytes)")

if __name__ == '__main__': main()
