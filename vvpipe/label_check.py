"""The label check: out-of-fold probabilities from a small CNN trained per fold (its own loop:
a few hundred steps of a throwaway model, not the fixed setup the tasks train), and cleanlab's
verdict on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from vvpipe.errors import MissingInputError
from vvpipe.files import atomic_output
from vvpipe.progress import progress_bar

if TYPE_CHECKING:  # analysis runs this module; its settings are only a type here
    from vvpipe.settings.data import AnalysisSettings

class QuickNet(nn.Module):
    """A small CNN trained only to produce out-of-fold probabilities for the label check."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@dataclass
class CrossValidation:
    """Which fold each scored image was held out in, and the model trained without that fold."""

    folds: np.ndarray
    models: list[dict]

    @torch.no_grad()
    def out_of_fold(self, images: np.ndarray, folds: np.ndarray) -> np.ndarray:
        """Softmax probabilities of images derived from training images of the given folds,
        each scored by the model that never saw its fold."""
        x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
        result = np.zeros((len(images), 10))
        for fold, state in enumerate(self.models):
            members = np.flatnonzero(folds == fold)
            if len(members):
                model = QuickNet()
                model.load_state_dict(state)
                model.eval()
                result[members] = torch.softmax(model(x[members]), 1).numpy()
        return result

    @torch.no_grad()
    def mean_probabilities(self, images: np.ndarray) -> np.ndarray:
        """The fold models' mean softmax probabilities, for images none of them trained on."""
        x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
        result = np.zeros((len(images), 10))
        for state in self.models:
            model = QuickNet()
            model.load_state_dict(state)
            model.eval()
            result += torch.softmax(model(x), 1).numpy() / len(self.models)
        return result

    def save(self, path: Path) -> None:
        with atomic_output(path) as partial:
            torch.save({"folds": self.folds, "models": self.models}, partial)

    @classmethod
    def load(cls, path: Path) -> CrossValidation:
        if not path.is_file():
            raise MissingInputError(f"{path} does not exist: run the analyze stage first")
        state = torch.load(path, weights_only=False)
        return cls(state["folds"], state["models"])


def cross_validated_probabilities(images: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                                  settings: AnalysisSettings, device: torch.device,
                                  progress: bool = True, unlabelled: np.ndarray | None = None
                                  ) -> tuple[np.ndarray, np.ndarray | None, CrossValidation]:
    """Out-of-fold softmax probabilities: each image is scored by a model that never saw it.
    Images of one ``groups`` value (exact copies) stay in one fold so a copy cannot vouch for
    itself. ``unlabelled`` images (the test pixels) get the mean of the fold models'
    probabilities. The fold models and each image's fold are returned too, so that later
    checks can score new images with a model that never saw their source."""
    rng = np.random.default_rng(settings.seed)
    unique_groups = np.unique(groups)
    fold_of_group = dict(zip(unique_groups, rng.permutation(len(unique_groups)) % settings.cv_folds))
    folds = np.array([fold_of_group[g] for g in groups])
    x_all = torch.from_numpy(images).float().div_(255.0).unsqueeze(1).to(device)
    y_all = torch.from_numpy(labels).long().to(device)
    probabilities = np.zeros((len(images), 10))
    extra = (torch.from_numpy(unlabelled).float().div_(255.0).unsqueeze(1).to(device)
             if unlabelled is not None else None)
    extra_probabilities = np.zeros((len(unlabelled), 10)) if unlabelled is not None else None
    generator = torch.Generator().manual_seed(settings.seed)
    fold_models: list[dict] = []
    bar = progress_bar(range(settings.cv_folds), progress, desc="cross-validation folds")
    for fold in bar:
        train_index = torch.from_numpy(np.flatnonzero(folds != fold)).to(device)
        held_out = torch.from_numpy(np.flatnonzero(folds == fold)).to(device)
        torch.manual_seed(settings.seed + fold)
        model = QuickNet().to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        steps = 0
        while steps < settings.cv_steps:  # a fixed budget of steps, whatever the set's size
            order = train_index[torch.randperm(len(train_index), generator=generator).to(device)]
            for start in range(0, len(order), settings.cv_batch_size):
                if steps == settings.cv_steps:
                    break
                batch = order[start:start + settings.cv_batch_size]
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x_all[batch]), y_all[batch]).backward()
                optimizer.step()
                steps += 1
        model.eval()
        with torch.no_grad():
            for start in range(0, len(held_out), 1024):
                batch = held_out[start:start + 1024]
                probabilities[batch.cpu().numpy()] = torch.softmax(model(x_all[batch]), 1).cpu().numpy()
            if extra is not None:
                for start in range(0, len(extra), 1024):
                    extra_probabilities[start:start + 1024] += torch.softmax(
                        model(extra[start:start + 1024]), 1).cpu().numpy() / settings.cv_folds
        fold_models.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    return probabilities, extra_probabilities, CrossValidation(folds, fold_models)


def label_issues(labels: np.ndarray, probabilities: np.ndarray,
                 filter_by: str) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """cleanlab's verdict per image (flagged or not), its label-quality score, and the estimated
    share of wrong labels in each given class."""
    from cleanlab.count import compute_confident_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    flagged = find_label_issues(labels, probabilities, filter_by=filter_by)
    quality = get_label_quality_scores(labels, probabilities)
    joint = compute_confident_joint(labels, probabilities)
    rows = joint.sum(1)
    noise = {str(c): float(1 - joint[c, c] / rows[c]) if rows[c] else 0.0 for c in range(10)}
    return flagged, quality, noise
