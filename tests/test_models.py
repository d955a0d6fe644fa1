import pytest
import torch
from torch import nn

from original import OriginalModelTask1, OriginalModelTask3
from vvpipe.models import ModelTask1, ModelTask3, ModelTask4

PAIRS = [
    (ModelTask1, lambda: OriginalModelTask1()),
    (ModelTask3, lambda: OriginalModelTask3()),
    (ModelTask4, lambda: OriginalModelTask3(last_activation=nn.ReLU, softmax=False)),
]


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_state_dict_loads_into_the_original_class_and_back(tmp_path, ours, theirs):
    torch.manual_seed(1)
    model = ours()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    original = theirs()
    original.load_state_dict(torch.load(path))  # strict: every name and shape must match
    model.eval(), original.eval()
    x = torch.rand(4, 1, 28, 28) * 255
    assert torch.equal(model(x), original(x))
    assert list(model.state_dict()) == list(original.state_dict())


def test_output_kinds():
    x = torch.rand(3, 1, 28, 28) * 255
    for model in (ModelTask1().eval(), ModelTask3().eval()):
        assert torch.allclose(model(x).sum(1), torch.ones(3))  # softmax probabilities
    logits = ModelTask4().eval()(x)
    assert logits.shape == (3, 10) and not torch.allclose(logits.sum(1), torch.ones(3))
