"""``audio``: the checkerboard of sound, after Pons, Pascual, Cengarle & Serra (2021),
"Upsampling artifacts in neural audio synthesis", ICASSP, and Pons et al. (2023), "Upsampling
layers for music source separation", EUSIPCO.

A stride-s upsampler's pattern repeats every s samples and is heard as tones at multiples of
fs/s (tonal artifacts); interpolation attenuates the top of the band it upsamples (filtering
artifacts); zero insertion mirrors the low-rate spectrum above its Nyquist frequency
(spectral replicas). Four claims, each decided over seeds (a seed draws new weights and new
sounds: :class:`checkerscope.sounds.SoundSource`, the embedded sounds or ``--data``'s WAV and
FLAC files):

- ``audio_tonal_init``: a x2 super-resolver (:mod:`~checkerscope.experiments.audio_networks`,
  two stacked x2 upsamplers) at random init, with transposed or sub-pixel convolutions, buzzes
  at multiples of fs/4 (tone score above the 12 dB flag), with nearest or linear
  resize-convolutions it does not; tried with no activation between the layers and with
  LeakyReLU, whose rectification turns the period-2 *variance* that interpolation leaves into a
  tone of its own.
- ``audio_filtering``: nearest and linear upsampling attenuate the top octave of the original
  band by what their closed-form responses predict (measured on the sounds' Welch spectra,
  computed from :func:`~checkerscope.analysis.frequency.interpolation_response` weighted by
  the same spectra); a random-kernel resize-convolution's impulse response equals its closed
  form.
- ``audio_replicas``: zero insertion puts as much power above the original Nyquist frequency
  as below it; interpolation attenuates those replicas.
- ``audio_tonal_trained``: after training, the transposed network keeps its tones and the
  nearest one does not, at a comparable quality; SDR and log-spectral distance are reported per
  upsampler beside the tone score, with Pons et al.'s table for the ordering.
"""

from __future__ import annotations

from typing import Any

import torch

from checkerscope.analysis.frequency import upsampler_response
from checkerscope.analysis.score import THRESHOLD
from checkerscope.analysis.spectrograms import spectrogram
from checkerscope.audiofiles import Audio
from checkerscope.experiments import config as C
from checkerscope.experiments.audio_measures import BAND, measure_seed
from checkerscope.experiments.audio_networks import train_and_score
from checkerscope.experiments.decision import Claim, Effect, EverySeed, Guard, differences
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.report.figures.audio import (
    replica_spectra,
    responses_figure,
    spectrogram_grid,
    tone_and_quality,
)
from checkerscope.sounds import SoundSource

TOLERANCE_DB = 0.5
"""Largest |measured - closed-form| top-octave attenuation: Welch bins of equal duration at both
rates share their frequencies, so only leakage across the band's edges separates the two."""
EXACT = 1e-9
"""Largest relative |impulse-measured - closed-form| response of a float64 resize-convolution."""
PONS_2023 = {
    "transposed": {"SDR_dB": 5.39, "MOS": 2.70},
    "subpixel": {"SDR_dB": 5.44, "MOS": 2.48},
    "nearest": {"SDR_dB": 5.17, "MOS": 3.30},
    "stretch": {"SDR_dB": 5.23, "MOS": 2.83},
    "lazy wavelet": {"SDR_dB": 5.31, "MOS": 2.45},
}
"""Pons et al. (2023), music source separation (Demucs-like, MUSDB18): BSS Eval SDR and
listeners' mean opinion score per upsampler."""

TONAL_INIT = Claim(
    "audio_tonal_init",
    lambda cfg: (
        f"At random init, a small x2 audio super-resolver ({cfg.sample_rate // 2} -> "
        f"{cfg.sample_rate} Hz) whose two stacked x2 upsamplers are transposed or sub-pixel "
        f"convolutions produces tones at multiples of fs/4 that score above {THRESHOLD:g} dB "
        "(flagged) on the sounds; with nearest or linear resize-convolutions it does not "
        f"(below {THRESHOLD:g} dB). Every seed draws new weights and sounds; tried with no "
        "activation between the layers and with LeakyReLU."
    ),
    Effect("tone score, weaker of transposed and sub-pixel - louder of nearest and linear", "dB"),
    EverySeed(0.0),
    guards=(
        Guard("tone score of the weaker of transposed and sub-pixel", "dB", at_least=THRESHOLD),
        Guard("tone score of the louder of nearest and linear", "dB", at_most=THRESHOLD),
    ),
)
FILTERING = Claim(
    "audio_filtering",
    f"Nearest and linear x2 upsampling attenuate the top octave of the original band (fs/8 to "
    f"fs/4 at the output rate fs) of the sounds as their closed-form responses predict (within "
    f"{TOLERANCE_DB:g} dB; nearest |D_2| = 2|cos w|, linear D_2^2 |cos w| / 2), so by more "
    "than 0.5 dB; and a random-kernel resize-convolution's measured impulse response equals "
    "its closed form.",
    Effect("measured attenuation of the top octave of the original band", "dB"),
    EverySeed(0.5),
    guards=(
        Guard("|measured - closed-form attenuation|", "dB", at_most=TOLERANCE_DB),
        Guard("|impulse-measured - closed-form| response of a random resize-conv", at_most=EXACT),
    ),
)
REPLICAS = Claim(
    "audio_replicas",
    "Upsampling the sounds x2 by zero insertion (a transposed convolution's first step) "
    "mirrors their spectrum above the original Nyquist frequency, as much power above as "
    "below it (replicas within 1 dB of the base band); nearest and linear interpolation "
    "attenuate those replicas by more than 3 dB.",
    Effect("replica level, zero insertion - interpolation", "dB"),
    EverySeed(3.0),
    guards=(Guard("replica level of zero insertion", "dB", at_least=-1.0),),
)
TONAL_TRAINED = Claim(
    "audio_tonal_trained",
    lambda cfg: (
        f"After training the x2 super-resolver ({cfg.sample_rate // 2} -> {cfg.sample_rate} Hz, "
        f"{cfg.steps} Adam steps, mean squared error) on the sounds, the transposed-convolution "
        f"network keeps its tones (tone score on held-out sounds above {THRESHOLD:g} dB) and "
        f"the nearest resize-convolution network does not (below {THRESHOLD:g} dB), at an SDR "
        "no more than 3 dB below the transposed network's; seed by seed, the transposed "
        "network's tone score is the higher."
    ),
    Effect("tone score, trained transposed - trained nearest network", "dB"),
    EverySeed(0.0),
    guards=(
        Guard("tone score of the trained transposed network", "dB", at_least=THRESHOLD),
        Guard("tone score of the trained nearest network", "dB", at_most=THRESHOLD),
        Guard("SDR, nearest - transposed network", "dB", at_least=-3.0),
    ),
)
CLAIMS = (TONAL_INIT, FILTERING, REPLICAS, TONAL_TRAINED)


def ordering(values: dict[str, float], higher_first: bool = True) -> str:
    """Names sorted by their values, as ``"a > b > c"`` (``"a < b < c"`` lowest first).

    Example:
        >>> ordering({"a": 1.0, "b": 3.0}), ordering({"a": 1.0, "b": 3.0}, higher_first=False)
        ('b > a', 'a < b')
    """
    names = sorted(values, key=values.__getitem__, reverse=higher_first)
    return (" > " if higher_first else " < ").join(names)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _column(per: list[dict], *keys: str) -> list[Any]:
    """``[p[k1][k2]... for p in per]``: one number per seed."""
    out = []
    for p in per:
        for k in keys:
            p = p[k]
        out.append(p)
    return out


def run(ctx: Context) -> ExperimentResult:
    cfg: C.AudioConfig = ctx.config
    rate = cfg.sample_rate
    sounds = SoundSource(ctx.data.folder)
    source = sounds.source
    if sounds.folder is not None and not sounds.files():
        sounds, source = SoundSource(), "embedded (the data folder holds no WAV or FLAC files)"
    seeds = ctx.seeds(cfg.seeds)
    per = ctx.map(lambda s: measure_seed(cfg, sounds, s, s == seeds[0]), seeds, "measurements")
    jobs = [(s, v) for s in seeds for v in cfg.trained_variants]
    done = ctx.map(
        lambda j: train_and_score(cfg, sounds, j[0], j[1], j[0] == seeds[0]), jobs, "training"
    )
    trained = {
        v: [t for (_, w), t in zip(jobs, done, strict=True) if w == v] for v in cfg.trained_variants
    }
    common = {"audio_source": source, "sample_rate_hz": rate}

    init = {a: {v: _column(per, "init", a, v) for v in cfg.variants} for a in cfg.activations}
    tonal = {
        a: [min(t, s) for t, s in zip(x["transposed"], x["subpixel"], strict=True)]
        for a, x in init.items()
    }
    plain = {
        a: [max(n, m) for n, m in zip(x["nearest"], x["linear"], strict=True)]
        for a, x in init.items()
    }
    ctx.decide(
        TONAL_INIT.id,
        per_seed={a: differences(tonal[a], plain[a]) for a in cfg.activations},
        guards={
            "tone score of the weaker of transposed and sub-pixel": tonal,
            "tone score of the louder of nearest and linear": plain,
        },
        evidence={
            **common,
            "tone_score_db_per_seed": init,
            "loudest_tone_hz_per_seed": {
                a: {v: _column(per, "loudest", a, v) for v in cfg.variants} for a in cfg.activations
            },
        },
    )
    modes = ("nearest", "linear")
    filtering = {
        m: {k: _column(per, "filtering", m, k) for k in ("measured", "closed_form", "impulse")}
        for m in modes
    }
    ctx.decide(
        FILTERING.id,
        per_seed={m: f["measured"] for m, f in filtering.items()},
        guards={
            "|measured - closed-form attenuation|": {
                m: [abs(a - b) for a, b in zip(f["measured"], f["closed_form"], strict=True)]
                for m, f in filtering.items()
            },
            "|impulse-measured - closed-form| response of a random resize-conv": {
                m: f["impulse"] for m, f in filtering.items()
            },
        },
        evidence={
            **common,
            "closed_form_attenuation_db_per_seed": {
                m: f["closed_form"] for m, f in filtering.items()
            },
            "band_hz": [BAND[0] * rate / 4, BAND[1] * rate / 4],
        },
    )
    replicas = {n: _column(per, "replicas", n) for n in ("zeros", *modes)}
    ctx.decide(
        REPLICAS.id,
        per_seed={m: differences(replicas["zeros"], replicas[m]) for m in modes},
        guards={"replica level of zero insertion": {m: replicas["zeros"] for m in modes}},
        evidence={**common, "replica_level_db_per_seed": replicas},
    )
    score = {
        k: {v: [t[k] for t in ts] for v, ts in trained.items()} for k in ("tone", "sdr", "lsd")
    }
    shared = [v for v in PONS_2023 if v in trained]
    orderings = {
        "ours_sdr": ordering({v: _mean(score["sdr"][v]) for v in shared}),
        "pons_sdr": ordering({v: PONS_2023[v]["SDR_dB"] for v in shared}),
        "ours_tone_score_lowest_first": ordering(
            {v: _mean(score["tone"][v]) for v in shared}, higher_first=False
        ),
        "pons_mos": ordering({v: PONS_2023[v]["MOS"] for v in shared}),
    }
    ctx.decide(
        TONAL_TRAINED.id,
        per_seed=differences(score["tone"]["transposed"], score["tone"]["nearest"]),
        guards={
            "tone score of the trained transposed network": score["tone"]["transposed"],
            "tone score of the trained nearest network": score["tone"]["nearest"],
            "SDR, nearest - transposed network": differences(
                score["sdr"]["nearest"], score["sdr"]["transposed"]
            ),
        },
        evidence={
            **common,
            "tone_score_db_per_seed": score["tone"],
            "loudest_tone_hz_per_seed": {
                v: [t["loudest_tone_hz"] for t in ts] for v, ts in trained.items()
            },
            "sdr_db_per_seed": score["sdr"],
            "log_spectral_distance_db_per_seed": score["lsd"],
            "linear_interpolation_sdr_db_per_seed": [
                t["interpolation_sdr"] for t in trained["nearest"]
            ],
            "orderings": orderings,
            "pons_et_al_2023": PONS_2023,
        },
    )
    numbers = {
        **common,
        "init_tone_score_db": {a: {v: _mean(x) for v, x in s.items()} for a, s in init.items()},
        "filtering_attenuation_db": {
            m: {k: _mean(f[k]) for k in ("measured", "closed_form")} for m, f in filtering.items()
        },
        "replica_level_db": {n: _mean(x) for n, x in replicas.items()},
        "trained": {
            v: {
                "tone_score_db": _mean(score["tone"][v]),
                "sdr_db": _mean(score["sdr"][v]),
                "log_spectral_distance_db": _mean(score["lsd"][v]),
                "final_loss": _mean([t["final_loss"] for t in trained[v]]),
            }
            for v in cfg.trained_variants
        },
        "orderings": orderings,
    }
    figures, captions, players = _report(cfg, per[0], trained, score, numbers, source)
    return ExperimentResult(numbers, figures, captions, players)


def _picture(y: torch.Tensor, rate: int) -> tuple[Any, list[float], list[float]]:
    s = spectrogram(y, rate, window=512)
    return s.decibels[0].numpy(), s.frequency.tolist(), s.time.tolist()


def _audible(y: torch.Tensor) -> torch.Tensor:
    """A random network's output (any amplitude) scaled to a peak of 0.5, to be played."""
    return 0.5 * y / y.abs().max().clamp(min=1e-12)


def _report(
    cfg: C.AudioConfig,
    first: dict,
    trained: dict[str, list[dict]],
    score: dict,
    numbers: dict,
    source: str,
) -> tuple[dict[str, Any], dict[str, str], dict[str, Audio]]:
    """The figures, the players and a caption for each, from the first seed's sounds; the
    captions quote the means over seeds from ``numbers``."""

    def means(scores: dict[str, float]) -> str:
        return ", ".join(f"{v} {x:.1f} dB" for v, x in scores.items())

    rate, shown = cfg.sample_rate, first["shown"]
    marks = [rate / 4, rate / 2]
    held_out = next(iter(trained.values()))[0]["target"]
    responses = {
        m: upsampler_response(torch.nn.Upsample(scale_factor=2, mode=m), rate, size=256)
        for m in ("nearest", "linear")
    }
    gain = {m: (20 * torch.log10(r.measured / 2 + 1e-12)).tolist() for m, r in responses.items()}
    closed = {
        m: (20 * torch.log10(r.closed_form / 2 + 1e-12)).tolist()
        for m, r in responses.items()
        if r.closed_form is not None
    }
    spectra = {n: d.tolist() for n, d in first["spectra"].items()}
    figures = {
        "init_spectrograms": spectrogram_grid(
            {"target (the sound at full rate)": _picture(shown["target"], rate)}
            | {f"{v}, random init": _picture(y, rate) for v, y in shown["init"].items()},
            marks,
            columns=3,
        ),
        "responses": responses_figure(
            responses["nearest"].frequency.tolist(), gain, closed, (rate / 8, rate / 4)
        ),
        "replicas": replica_spectra((torch.arange(513) * rate / 1024).tolist(), spectra, rate / 4),
        "trained": tone_and_quality(
            score["tone"], score["sdr"], "SDR on held-out sounds (dB)", THRESHOLD
        ),
        "trained_spectrograms": spectrogram_grid(
            {"target (a held-out sound)": _picture(held_out, rate)}
            | {f"{v}, trained": _picture(t[0]["output"], rate) for v, t in trained.items()},
            marks,
            columns=3,
        ),
    }
    captions = {
        "init_spectrograms": (
            f"One sound ({source}) through the x2 super-resolver at random init (first seed, "
            f"activation {cfg.activations[-1]}), input at {rate // 2} Hz; triangles at both "
            f"edges mark fs/4 and fs/2 ({rate / 4:g} and {rate / 2:g} Hz): a buzz is a line "
            "between them. Above "
            f"{rate / 4:g} Hz: replicas of the input's band. Mean tone scores over seeds, "
            + "; ".join(
                f"activation {a}: {means(x)}" for a, x in numbers["init_tone_score_db"].items()
            )
            + "."
        ),
        "responses": (
            "Magnitude responses of x2 nearest and linear upsampling, measured from an impulse "
            "(lines) and in closed form (circles): nearest falls as |cos w|, linear as "
            "|cos w|^3, both to zero at fs/2. The shaded band, the top octave of the original "
            "band, is where the sounds' attenuation is measured against the closed form."
        ),
        "replicas": (
            f"Average spectra of one sound ({source}) upsampled x2 by zero insertion, nearest "
            "and linear interpolation. Above the original Nyquist frequency (dashed) zero "
            "insertion mirrors the whole band, the replicas; interpolation attenuates them, "
            "linear more than nearest."
        ),
        "trained": (
            f"After {cfg.steps} training steps: the tone score of each network on held-out "
            f"sounds (one dot per seed, bar at the mean; dashed: the {THRESHOLD:g} dB flag) "
            "beside its SDR (a plain signal-to-distortion ratio, not BSS Eval's: only the "
            "ordering compares with Pons et al.'s table)."
        ),
        "trained_spectrograms": (
            "A held-out sound through each trained super-resolver (first seed), triangles at "
            "fs/4 and fs/2: lines there are the tones training left. Mean tone scores over "
            f"seeds: {means({v: t['tone_score_db'] for v, t in numbers['trained'].items()})}."
        ),
        "input": f"Listen: the input, one sound at {rate // 2} Hz ({source}).",
        "target": f"Listen: the same sound at {rate} Hz, what the network should give.",
        "init_transposed": (
            "Listen: the transposed-convolution network at random init (scaled to a fixed "
            "peak): a buzz at fs/4 and fs/2 over a distorted copy of the sound."
        ),
        "init_nearest": (
            "Listen: the nearest resize-convolution network at random init (scaled to a fixed "
            "peak): a distorted, duller copy without a buzz as loud."
        ),
    }
    players = {
        "input": Audio(shown["input"], rate // 2),
        "target": Audio(shown["target"], rate),
        "init_transposed": Audio(_audible(shown["init"]["transposed"]), rate),
        "init_nearest": Audio(_audible(shown["init"]["nearest"]), rate),
    }
    for v, t in trained.items():
        players[f"trained_{v}"] = Audio(t[0]["output"], rate)
        captions[f"trained_{v}"] = f"Listen: the trained {v} network on a held-out sound."
    return figures, captions, players


EXPERIMENT = Experiment(
    id="audio",
    title="Sound: tonal artifacts, filtering and replicas of audio upsamplers (Pons et al.)",
    claims=CLAIMS,
    configs=C.AUDIO,
    run=run,
    budget=C.BUDGETS["audio"],
)
