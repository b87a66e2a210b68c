"""How checkerscope.checkerboard_loss was scaled: its values beside typical losses, and what
adding it with a few weights does to a reconstruction generator and to a GAN.

Part 1, magnitudes: the loss (weight 1) on clean images (photo crops, crops enlarged by pixel
repetition, white noise) and on artifact-laden ones (random-weight DCGAN generators with
transposed convolutions, a trained k3 s2 reconstruction generator, a trained DCGAN), beside the
reconstruction losses (MSE, L1) of that generator and the non-saturating generator loss of that
GAN. Part 2, effect: the reconstruction generator of ``experiments/regularizer.py`` (k3 s2
deconvolutions, images in [-1, 1]) trained on MSE or L1 with the loss at each weight, and a
DCGAN (gan_training's models, quick sizes) with it at each weight: score, and the MSE (KID for
the GAN) against the same network trained without it. Seeds 100 and up, never the study's.

    python benchmarks/loss_scale.py [--seeds 2] [--gan-steps 400] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from checkerscope import checkerboard_loss
from checkerscope.analysis.kid import extract_features, kid_features, kid_from_features
from checkerscope.analysis.score import checkerboard_score
from checkerscope.data import ImageSource
from checkerscope.experiments import config as C
from checkerscope.experiments import regularizer as R
from checkerscope.experiments.gan import dcgan_init, generate
from checkerscope.models import DCGANGenerator, StridedDiscriminator

RECON_WEIGHTS = (0.3, 1.0, 3.0)
GAN_WEIGHTS = (1.0, 10.0, 100.0)
SEED = 100


def gan_run(weight: float, steps: int, seed: int, real: torch.Tensor, held: torch.Tensor) -> dict:
    """A DCGAN (gan_training's quick sizes) trained ``steps`` steps with the loss at ``weight``
    added to the generator's non-saturating loss: final score, KID, mean losses of the end."""
    cfg = C.GAN_TRAINING["quick"]
    torch.manual_seed(seed)
    D = dcgan_init(StridedDiscriminator(3, cfg.ndf, cfg.image_size))
    torch.manual_seed(seed + 1)
    G = dcgan_init(DCGANGenerator(cfg.nz, cfg.ngf, 3, cfg.image_size))
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), cfg.lr, betas=(cfg.beta1, cfg.beta2))
    stream = torch.Generator().manual_seed(seed + 2)
    ones, zeros = torch.ones(cfg.batch_size), torch.zeros(cfg.batch_size)
    g_losses, regs = [], []
    for _ in range(steps):
        x = real[torch.randint(len(real), (cfg.batch_size,), generator=stream)]
        fake = G(torch.randn(cfg.batch_size, cfg.nz, generator=stream))
        loss_d = F.binary_cross_entropy_with_logits(D(x).view(-1), ones)
        loss_d = loss_d + F.binary_cross_entropy_with_logits(D(fake.detach()).view(-1), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(D(fake).view(-1), ones)
        reg = checkerboard_loss(fake)
        g_losses.append(float(loss_g))
        regs.append(float(reg))
        opt_g.zero_grad()
        (loss_g + weight * reg).backward()
        opt_g.step()
    z = torch.randn(len(held), cfg.nz, generator=torch.Generator().manual_seed(seed + 3))
    samples = generate(G, z)
    features = kid_features(in_channels=3, seed=0)
    kid = kid_from_features(extract_features(features, samples), extract_features(features, held),
                            20, 64)  # fmt: skip
    tail = max(1, steps // 10)
    return {
        "score": float(checkerboard_score(samples).mean()),
        "kid": kid.mean,
        "g_loss": statistics.mean(g_losses[-tail:]),
        "loss_on_samples": float(checkerboard_loss(samples)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--gan-steps", type=int, default=400)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    src = ImageSource()
    cfg = C.REGULARIZER["default"]
    crops = src.crops(256, cfg.image_size, seed=SEED) * 2 - 1
    train = src.crops(cfg.n_train, cfg.image_size, seed=SEED + 1) * 2 - 1
    test = src.crops(cfg.n_eval, cfg.image_size, seed=SEED + 2) * 2 - 1

    def loss_of(x: torch.Tensor) -> float:
        return float(checkerboard_loss(x))

    rows = [("photo crops, 32 x 32, in [-1, 1]", loss_of(crops)),
            ("the same, pooled by 4 and enlarged by pixel repetition",
             loss_of(F.interpolate(F.avg_pool2d(crops, 4), scale_factor=4))),
            ("white noise", loss_of(torch.randn(256, 3, 32, 32)))]  # fmt: skip
    torch.manual_seed(SEED)
    with torch.no_grad():
        g = DCGANGenerator(64, 32, 3, 32).train()
        rows.append(("random-weight DCGAN generators, k4 s2 deconvolutions",
                     loss_of(g(torch.randn(64, 64)))))  # fmt: skip
    lines = ["Values (weight 1) of `checkerboard_loss`, and of typical losses:", "",
             "| images | checkerboard loss | other losses |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {name} | {value:.4f} | |" for name, value in rows]
    effect = ["| generator loss | weight | score drop (dB) | quality ratio |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for rec in ("mse", "l1"):
            for seed in range(SEED, SEED + args.seeds):
                base = C.with_overrides(cfg, {"reconstruction": rec})
                plain = R.fit("deconv_k3", base, train, test, seed, Path(tmp) / f"{rec}{seed}.pt")
                if seed == SEED:
                    lines.append(f"| trained k3 s2 reconstruction generator ({rec.upper()}) | "
                                 f"{plain['checkerboard_loss']:.4f} | {rec.upper()} "
                                 f"{plain['reconstruction']:.4f} |")  # fmt: skip
                for w in RECON_WEIGHTS:
                    reg = R.fit("deconv_k3 + checkerboard loss",
                                C.with_overrides(base, {"loss_weight": w}), train, test, seed,
                                Path(tmp) / f"{rec}{seed}_{w}.pt")  # fmt: skip
                    effect.append(f"| {rec.upper()}, seed {seed} | {w:g} | "
                                  f"{plain['score'] - reg['score']:.1f} | MSE x"
                                  f"{reg['mse'] / plain['mse']:.2f} |")  # fmt: skip
                print(*effect[-len(RECON_WEIGHTS):], sep="\n", flush=True)  # fmt: skip
    real = src.crops(1024, 32, seed=SEED + 3) * 2 - 1
    held = src.crops(256, 32, seed=SEED + 4) * 2 - 1
    plain = gan_run(0.0, args.gan_steps, SEED, real, held)
    lines.append(f"| DCGAN samples after {args.gan_steps} steps | {plain['loss_on_samples']:.4f} | "
                 f"non-saturating G loss {plain['g_loss']:.2f} |")  # fmt: skip
    for w in GAN_WEIGHTS:
        reg = gan_run(w, args.gan_steps, SEED, real, held)
        effect.append(f"| non-saturating GAN, seed {SEED} | {w:g} | "
                      f"{plain['score'] - reg['score']:.1f} | KID {reg['kid']:.4f} vs "
                      f"{plain['kid']:.4f} |")  # fmt: skip
        print(effect[-1], flush=True)
    text = "\n".join([*lines, "", "Adding it at a few weights (score drop and quality against "
                      "the same network trained without it):", "", *effect, "",
                      f"{time.perf_counter() - start:.0f} s on one thread."])  # fmt: skip
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
