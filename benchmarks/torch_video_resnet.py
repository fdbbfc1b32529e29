"""The reference network of the GPU benchmark in plain PyTorch: I3D / NL-I3D
ResNet-50 as the zoo builds them (`publisher="paper"`, `sampling="8x8"`), so both
frameworks run the same architecture with the same FLOPs.

Written from the paper and `keras_nonlocal/models/video_resnet.py` (the GPU
machines have PyTorch but not pytorchvideo): conv1 5x7x7, pool1 1x3x3, pool2
2x1x1, bottlenecks with the spatial stride on the first 1x1 conv and 3x1x1
inflation in the release's pattern, embedded-Gaussian non-local blocks (keys
and values max-pooled 1x2x2 before phi and g, logits scaled by 1/sqrt(d),
`F.scaled_dot_product_attention`) after res3 blocks 2, 4 and res4 blocks 2, 4,
6. Channels-first, as PyTorch is.
"""

import torch.nn.functional as F
from torch import nn

STAGES = (3, 4, 6, 3)
INFLATED = ([1, 1, 1], [1, 0, 1, 0], [1, 0, 1, 0, 1, 0], [0, 1, 0])
NONLOCAL = {1: (1, 3), 2: (1, 3, 5)}


class NonLocal(nn.Module):
    """Embedded Gaussian, pooling before phi/g, BN after W_z, residual."""

    def __init__(self, channels):
        super().__init__()
        inner = channels // 2
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Conv3d(channels, inner, 1)
        self.g = nn.Conv3d(channels, inner, 1)
        self.out = nn.Conv3d(inner, channels, 1)
        self.bn = nn.BatchNorm3d(channels)

    def forward(self, x):
        b, c, t, h, w = x.shape
        pooled = F.max_pool3d(x, (1, 2, 2), (1, 2, 2))
        q = self.theta(x).flatten(2).transpose(1, 2)[:, None]
        k = self.phi(pooled).flatten(2).transpose(1, 2)[:, None]
        v = self.g(pooled).flatten(2).transpose(1, 2)[:, None]
        y = F.scaled_dot_product_attention(q, k, v)[:, 0]  # scale 1/sqrt(d)
        y = y.transpose(1, 2).reshape(b, -1, t, h, w)
        return x + self.bn(self.out(y))


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride, inflate):
        super().__init__()
        cout = width * 4
        kt = 3 if inflate else 1
        self.conv1 = nn.Conv3d(cin, width, (kt, 1, 1), (1, stride, stride), (kt // 2, 0, 0),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, (1, 3, 3), 1, (0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, (1, stride, stride), bias=False),
                                          nn.BatchNorm3d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class VideoResNet(nn.Module):
    def __init__(self, nonlocal_=True, classes=400, base=64):
        super().__init__()
        self.conv1 = nn.Conv3d(3, base, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(base)
        layers, cin = [], base
        for stage, blocks in enumerate(STAGES):
            width = base * 2 ** stage
            for b in range(blocks):
                layers.append(Bottleneck(cin, width, 2 if (b == 0 and stage) else 1,
                                         INFLATED[stage][b]))
                cin = width * 4
                if nonlocal_ and b in NONLOCAL.get(stage, ()):
                    layers.append(NonLocal(cin))
            if stage == 0:
                layers.append(nn.MaxPool3d((2, 1, 1), (2, 1, 1)))
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        x = self.layers(x)
        return self.fc(x.mean((2, 3, 4)))
