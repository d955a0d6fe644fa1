"""What the pipeline tells people: short Markdown summaries of what the analysis and the
engineering found and did."""

from __future__ import annotations


def _share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f} %)" if whole else str(part)


def analysis_markdown(summary: dict) -> str:
    n = summary["train_images"]
    balance, dup, anomalies = summary["class_balance"], summary["duplicates"], summary["anomalies"]
    labels, order = summary["label_issues"], summary["ordering"]
    counts = ", ".join(f"{c}: {k}" for c, k in balance["counts"].items())
    noisiest = sorted(labels["estimated_noise_per_class"].items(), key=lambda kv: -kv[1])[:3]
    lines = [
        f"# {summary['task']}: training-set analysis",
        "",
        f"{n} training images, {summary['test_images']} test images (pixels only; test labels "
        "are not read).",
        "",
        f"- **Class balance**: {counts}; largest/smallest class {balance['imbalance_ratio']:.1f}×"
        + (f"; empty classes {balance['empty_classes']}" if balance["empty_classes"] else "") + ".",
        f"- **Exact duplicates**: {dup['groups']} groups holding {_share(dup['images'], n)} images, "
        f"{dup['redundant_copies']} redundant copies, largest group {dup['largest_group']}; "
        f"{dup['groups_with_conflicting_labels']} groups carry conflicting labels. Near duplicates "
        f"(same perceptual hash, other pixels): {summary['near_duplicates']['images']} images in "
        f"{summary['near_duplicates']['groups']} groups.",
        f"- **Anomalous images**: inverted polarity {_share(anomalies['inverted'], n)}, blank "
        f"{anomalies['blank']}, saturated {anomalies['saturated']}, noise-like {anomalies['noise']}.",
        f"- **Label issues**: {_share(labels['flagged'], n)} flagged by {labels['method']} "
        f"(out-of-fold accuracy {labels['out_of_fold_accuracy']:.3f}); noisiest given classes: "
        + ", ".join(f"{c} ({100 * r:.0f} %)" for c, r in noisiest) + ".",
        f"- **Loader order**: with batches of {order['batch_size']} and no shuffling, "
        f"{order['single_class_batches']} of {order['batches']} batches hold a single class "
        f"({order['label_runs']} label runs)" + (": **class-sorted**." if order["class_sorted"]
                                                 else "."),
        f"- **Test class prior** ({summary['test_prior']['method']}): "
        + ", ".join(f"{c}: {p:.3f}" for c, p in summary["test_prior"]["estimate"].items())
        + f"; distance from uniform {summary['test_prior']['distance_from_uniform']:.3f} "
        f"± {summary['test_prior']['distance_standard_error']:.3f}: "
        + ("**differs from uniform**" if summary["test_prior"]["differs_from_uniform"]
           else "no measurable difference from uniform") + ".",
        f"- **Blur direction** (gradient structure tensor, weighted by anisotropy): train "
        f"{summary['blur_direction']['train']['mean_direction']:.0f}° (concentration "
        f"{summary['blur_direction']['train']['concentration']:.2f}), test "
        f"{summary['blur_direction']['test']['mean_direction']:.0f}° (concentration "
        f"{summary['blur_direction']['test']['concentration']:.2f}).",
        f"- **Test images inside the training set** (pixel hash): "
        f"{summary['test_images_in_training_set']}.",
        f"- **Bad input** (skipped or converted by the reader): {len(summary['bad_input'])}"
        + "".join(f"\n  - `{b['path']}`: {b['reason']}" for b in summary["bad_input"][:20]),
        "",
        "## Train/test shift (unlabelled image properties)",
        "",
        "| property | train mean ± sd | test mean ± sd | KS distance | p-value | std. mean diff. "
        "| spread ratio | shift |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary["shift"].items():
        lines.append(f"| {name} | {s['train_mean']:.2f} ± {s['train_std']:.2f} | "
                     f"{s['test_mean']:.2f} ± {s['test_std']:.2f} | {s['ks_distance']:.3f} | "
                     f"{s['p_value']:.1e} | {s['standardised_mean_difference']:+.2f} | "
                     f"{s['spread_ratio']:.2f} | {'**yes**' if s['shifted'] else 'no'} |")
    return "\n".join(lines) + "\n"
