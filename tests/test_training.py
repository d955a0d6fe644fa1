import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from original import original_train
from vvpipe.errors import NonFiniteLossError, ParamsError
from vvpipe.data import TensorBatches
from vvpipe.models import ModelTask1, ModelTask3, place
from vvpipe.training import Trainer
from vvpipe.runtime import select_device


def original_dataset(image_set):
    """The original's data: a Python list of (float tensor (1,28,28), int label)."""
    return [(image.float(), int(label)) for image, label in zip(image_set.images, image_set.labels)]


def train_both(digits, model_class, shuffle: bool, channels_last: bool):
    """Two epochs of the original loop and of the Trainer from the same initial weights; the
    Trainer's model in the layout asked for. Returns (ours, theirs, initial) state_dicts."""
    torch.manual_seed(3)
    model = model_class()
    reference = copy.deepcopy(model)
    initial = copy.deepcopy(model.state_dict())
    place(model, torch.device("cpu"), channels_last)
    loader = DataLoader(original_dataset(digits), batch_size=64, shuffle=shuffle,
                        generator=torch.Generator().manual_seed(5))
    # Dropout draws from the global generator: both runs start from the same state.
    torch.manual_seed(11)
    original_train(reference, torch.optim.SGD(reference.parameters(), lr=0.005, momentum=0.9),
                   nn.CrossEntropyLoss(), loader, epochs=2)

    fast = TensorBatches(digits.images, digits.labels, 64, shuffle,
                         torch.Generator().manual_seed(5))
    torch.manual_seed(11)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9),
                      nn.CrossEntropyLoss(), progress=False)
    for _ in range(2):
        trainer.train_epoch(fast)
    return model.state_dict(), reference.state_dict(), initial


MODELS_AND_LOADERS = [(ModelTask1, False), (ModelTask3, True)]


@pytest.mark.parametrize("model_class, shuffle", MODELS_AND_LOADERS)
def test_trainer_is_bit_identical_to_the_original_loop(digits, model_class, shuffle):
    ours, theirs, initial = train_both(digits, model_class, shuffle, channels_last=False)
    assert list(ours) == list(theirs)
    changed = [k for k in ours if not torch.equal(ours[k], theirs[k])]
    assert changed == []
    # Training really moved the weights, so the comparison means something.
    unchanged = [k for k in ours if k.endswith("weight") and torch.equal(ours[k], initial[k])]
    assert unchanged == []


@pytest.mark.parametrize("model_class, shuffle", MODELS_AND_LOADERS)
def test_channels_last_stays_within_float_rounding_of_the_original_loop(digits, model_class,
                                                                       shuffle):
    """The faster layout sums in another order, nothing more: after 2 epochs every tensor is
    within 1e-4 of its largest |value| of the original loop's (the stated tolerance). A different
    dropout mask, which channels-last would draw without the fix in ``place``, moves ModelTask3's
    weights as far as training itself does (100x this tolerance)."""
    ours, theirs, _ = train_both(digits, model_class, shuffle, channels_last=True)
    assert list(ours) == list(theirs)
    for key in ours:
        if ours[key].is_floating_point():
            scale = theirs[key].abs().max().item()
            assert (ours[key] - theirs[key]).abs().max().item() <= 1e-4 * scale, key
    # The layout really is channels-last, so the comparison means something.
    conv = [k for k in ours if ours[k].dim() == 4][-1]  # conv_1: more than one input channel
    assert ours[conv].is_contiguous(memory_format=torch.channels_last)
    assert not ours[conv].is_contiguous()


@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_batches_match_the_dataloader(digits, shuffle):
    loader = DataLoader(original_dataset(digits), batch_size=64, shuffle=shuffle,
                        generator=torch.Generator().manual_seed(9))
    fast = TensorBatches(digits.images, digits.labels, 64, shuffle, torch.Generator().manual_seed(9))
    assert len(fast) == len(loader) == 5
    for _ in range(2):  # the second pass draws a new permutation in both
        pairs = list(zip(loader, fast))
        assert len(pairs) == 5
        for (images, labels), (fast_images, fast_labels) in pairs:
            assert fast_images.dtype == images.dtype == torch.float32
            assert torch.equal(images, fast_images) and torch.equal(labels, fast_labels)


def test_fit_records_epochs_and_validation(digits):
    torch.manual_seed(0)
    model = ModelTask1()
    batches = TensorBatches(digits.images, digits.labels, 100, False)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9),
                      nn.CrossEntropyLoss(), progress=False)
    history = trainer.fit(batches, batches, epochs=3)
    assert [h.epoch for h in history] == [1, 2, 3] and trainer.epoch == 3
    assert all(0 <= h.val_accuracy <= 1 and h.lr == 0.005 for h in history)
    assert all(2.0 < h.train_loss < 2.4 for h in history)  # CE on probabilities: near log(10)


def test_non_finite_loss_stops_with_a_clear_error(digits):
    model = ModelTask1()
    batches = TensorBatches(digits.images, digits.labels, 100, False)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
                      lambda outputs, labels: outputs.sum() * float("nan"), progress=False)
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        trainer.fit(batches, batches, epochs=2)


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ParamsError, match="no CUDA GPU"):
            select_device("cuda")


def test_the_monitorable_values_are_the_ones_an_epoch_logs():
    from dataclasses import fields

    from vvpipe.hooks import EpochLog
    from vvpipe.settings.train import MONITORED

    assert set(MONITORED) == {f.name for f in fields(EpochLog)} - {"epoch", "lr"}
