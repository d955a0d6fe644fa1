"""The three fixed models of the vv-test tasks, with the original layer names.

Keeping the ``Sequential(OrderedDict(...))`` attribute names means a state_dict saved here loads
into the original classes, and theirs into these. Models 1 and 3 end in Softmax and are trained
with CrossEntropyLoss on those probabilities (a double softmax): that is part of the fixed setup.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from vvpipe.errors import MissingInputError
from vvpipe.files import atomic_output


class ModelTask1(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(OrderedDict([
            ("conv_0", nn.Conv2d(1, 6, 5)),
            ("conv_1", nn.Conv2d(6, 9, 5)),
            ("maxpool_0", nn.MaxPool2d(3, 3)),
            ("batchnorm_0", nn.BatchNorm2d(9)),
            ("flatten", nn.Flatten()),
            ("dense_0", nn.Linear(324, 64)),
            ("activation_0", nn.ReLU()),
            ("dense_1", nn.Linear(64, 64)),
            ("activation_1", nn.ReLU()),
            ("dense_2", nn.Linear(64, 64)),
            ("activation_2", nn.ReLU()),
            ("output", nn.Linear(64, 10)),
            ("softmax", nn.Softmax(dim=1)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _task3_conv() -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("conv_0", nn.Conv2d(1, 9, 5)),
        ("conv_1", nn.Conv2d(9, 6, 5)),
        ("avgpool_0", nn.AvgPool2d(5, 4)),
        ("dropout_0", nn.Dropout(0.2)),
        ("flatten", nn.Flatten()),
    ]))


def _task3_linear(last_activation: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("linear_0", nn.Linear(96, 256)),
        ("layernorm_1", nn.LayerNorm(256)),
        ("activation_0", nn.ReLU()),
        ("linear_1", nn.Linear(256, 128)),
        ("layernorm_2", nn.LayerNorm(128)),
        ("activation_1", nn.ReLU()),
        ("linear_2", nn.Linear(128, 64)),
        ("layernorm_3", nn.LayerNorm(64)),
        ("activation_2", last_activation),
    ]))


class ModelTask3(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = _task3_conv()
        self.linear = _task3_linear(nn.Tanh())
        self.output = nn.Sequential(OrderedDict([
            ("output", nn.Linear(64, 10)),
            ("softmax", nn.Softmax(dim=1)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.linear(self.conv(x)))


class ModelTask4(nn.Module):
    """ModelTask3 with a ReLU last activation and no softmax: it returns raw logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = _task3_conv()
        self.linear = _task3_linear(nn.ReLU())
        self.output = nn.Sequential(OrderedDict([("output", nn.Linear(64, 10))]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.linear(self.conv(x)))


# The fixed model of each task that trains on its own data folder.
TASK_MODELS: dict[str, type[nn.Module]] = {"task1": ModelTask1, "task3": ModelTask3}


def _default_layout(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(tensor.contiguous() for tensor in inputs)


def place(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """``model`` on ``device``, its convolution weights in channels-last layout when asked.

    Only the memory layout changes: Flatten still reads (C, H, W) order, and the state_dict loads
    into a default-layout model. Dropout fills its mask in memory order, so its input is put back
    in the default layout first: the mask, and the run, stay the original's."""
    if channels_last:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.register_forward_pre_hook(_default_layout)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return model.to(device, memory_format=layout)


def save_model(model: nn.Module, path: Path) -> None:
    """A plain state_dict, so it loads into the original model classes too."""
    with atomic_output(path) as partial:
        torch.save(model.state_dict(), partial)


def load_model(model_class: type[nn.Module], path: Path, device: torch.device) -> nn.Module:
    if not path.is_file():
        raise MissingInputError(f"model {path} does not exist: run its train stage first")
    model = model_class().to(device)
    model.load_state_dict(torch.load(path, map_location=device))
    return model
