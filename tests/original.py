"""A plain transcription of the original vv-test scripts' model classes, reader and loop.

Kept apart from the package on purpose: tests compare the package against this, so it must not
share code with it.
"""

from collections import OrderedDict

from torch import nn


class OriginalModelTask1(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(OrderedDict([
            ("conv_0", nn.Conv2d(1, 6, 5)), ("conv_1", nn.Conv2d(6, 9, 5)),
            ("maxpool_0", nn.MaxPool2d(3, 3)), ("batchnorm_0", nn.BatchNorm2d(9)),
            ("flatten", nn.Flatten()), ("dense_0", nn.Linear(324, 64)),
            ("activation_0", nn.ReLU()), ("dense_1", nn.Linear(64, 64)),
            ("activation_1", nn.ReLU()), ("dense_2", nn.Linear(64, 64)),
            ("activation_2", nn.ReLU()), ("output", nn.Linear(64, 10)),
            ("softmax", nn.Softmax(dim=1)),
        ]))

    def forward(self, x):
        return self.layers(x)


class OriginalModelTask3(nn.Module):
    def __init__(self, last_activation=nn.Tanh, softmax=True):
        super().__init__()
        self.conv = nn.Sequential(OrderedDict([
            ("conv_0", nn.Conv2d(1, 9, 5)), ("conv_1", nn.Conv2d(9, 6, 5)),
            ("avgpool_0", nn.AvgPool2d(5, 4)), ("dropout_0", nn.Dropout(0.2)),
            ("flatten", nn.Flatten()),
        ]))
        self.linear = nn.Sequential(OrderedDict([
            ("linear_0", nn.Linear(96, 256)), ("layernorm_1", nn.LayerNorm(256)),
            ("activation_0", nn.ReLU()), ("linear_1", nn.Linear(256, 128)),
            ("layernorm_2", nn.LayerNorm(128)), ("activation_1", nn.ReLU()),
            ("linear_2", nn.Linear(128, 64)), ("layernorm_3", nn.LayerNorm(64)),
            ("activation_2", last_activation()),
        ]))
        head = [("output", nn.Linear(64, 10))] + ([("softmax", nn.Softmax(dim=1))] if softmax else [])
        self.output = nn.Sequential(OrderedDict(head))

    def forward(self, x):
        x = self.conv(x)
        x = self.linear(x)
        return self.output(x)


def original_train(model, optimizer, criterion, train_loader, epochs):
    """The original loop's training half, line by line."""
    for _ in range(epochs):
        model.train()
        train_loss = []
        for images, labels in train_loader:
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            train_loss.append(loss.item())
            optimizer.step()
