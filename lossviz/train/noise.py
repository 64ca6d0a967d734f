"""Label noise: training labels corrupted reproducibly, the same for every loss of a run.

Symmetric noise (Ghosh, Kumar & Sastry, AAAI 2017; Zhang & Sabuncu, NeurIPS 2018): a corrupted
label moves to one of the other C - 1 classes, uniformly. Pair-flip noise (Han et al., NeurIPS
2018, "Co-teaching"): class c moves to c + 1 (mod C), a confusion between neighbours. The rate
is the fraction of labels that are wrong, realised exactly: round(rate * N) labels flip.
"""

from __future__ import annotations

import torch

# Mixed into the run's seed, so the noise draw is not the same stream as the initial weights.
NOISE_STREAM = 0x5EED_1AB1


def corrupt_labels(labels: torch.Tensor, rate: float, kind: str = "symmetric", *, n_classes: int = 10,
                   seed: int = 0) -> torch.Tensor:
    """A corrupted copy of ``labels`` (N,): exactly round(rate * N) of them changed.

    Which labels flip and where they go depend only on (labels, rate, kind, n_classes, seed),
    so every loss of a run, and a resumed run, sees the same corrupted labels.

    Args:
        rate: the fraction of labels to corrupt, in [0, 1].
        kind: "symmetric" (to one of the other classes, uniformly) or "pairflip" (c -> c + 1).
        n_classes: C, at least 2.
        seed: the run's seed.

    Returns:
        (N,) labels on ``labels``' device; every changed label differs from the original.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"label noise rate must be in [0, 1], got {rate!r}")
    if kind not in ("symmetric", "pairflip"):
        raise ValueError(f"noise must be symmetric or pairflip, got {kind!r}")
    if n_classes < 2:
        raise ValueError(f"label noise needs at least 2 classes, got {n_classes}")
    n = len(labels)
    k = round(rate * n)
    g = torch.Generator().manual_seed((seed * 1_000_003 + NOISE_STREAM) % 2**63)
    index = torch.randperm(n, generator=g)[:k]
    clean = labels.cpu()
    noisy = clean.clone()
    if kind == "symmetric":
        # Adding 1..C-1 (mod C) reaches each other class exactly once: uniform over the others.
        shift = torch.randint(1, n_classes, (k,), generator=g)
    else:
        shift = torch.ones(k, dtype=torch.long)
    noisy[index] = (clean[index] + shift) % n_classes
    return noisy.to(labels.device)
