"""Params and FLOPs against the published figures."""

import pytest

from helpers import import_pytorchvideo_hub
from keras_nonlocal import zoo


def _total(name, frames, size, **kwargs):
    return zoo.summary(name, frames, size, print_fn=None, **kwargs)["total"]


def test_table_2e_ratios_resnet101():
    """Paper Table 2e (R101, 32x224x224): params / FLOPs relative to C2D."""
    c2d = _total("c2d_r101", 32, 224)
    # "C2D baseline (43.2M and 34.2B)"
    assert c2d["params"] / 1e6 == pytest.approx(43.2, rel=0.01)
    assert c2d["macs"] / 1e9 == pytest.approx(34.2, rel=0.01)
    cases = {  # paper: params x, FLOPs x
        "i3d_3x3x3": (_total("i3d_r101", 32, 224, inflate="3x3x3"), 1.5, 1.8),
        "i3d_3x1x1": (_total("i3d_r101", 32, 224), 1.2, 1.5),
        "nl_c2d_5": (_total("nl_c2d_r101", 32, 224), 1.2, 1.2),
    }
    for name, (stats, params_x, flops_x) in cases.items():
        # the paper prints one decimal: params ratios round to it; FLOPs
        # ratios are within 0.06 (I3D 3x1x1 is 1.44x here, see MODEL_ZOO.md:
        # the paper's 1.5x needs the stride on the 3x3 conv, which would
        # also move C2D from 34.2 G, the paper's figure, to 35.3 G)
        assert round(stats["params"] / c2d["params"], 1) == params_x, name
        assert stats["macs"] / c2d["macs"] == pytest.approx(flops_x, abs=0.06), name


@pytest.mark.parametrize("name,published_gflops", [("c2d_r50", 25.89), ("i3d_r50", 37.53)])
def test_pytorchvideo_8x8_variant(name, published_gflops):
    """pytorchvideo's C2D / I3D R50 8x8: same params as its real models,
    FLOPs within 3% of its model zoo (8x256x256; it also counts BN)."""
    ours = _total(name, 8, 256, sampling="8x8", publisher="pytorchvideo")
    theirs = getattr(import_pytorchvideo_hub(), name)(pretrained=False)
    assert ours["params"] == sum(p.numel() for p in theirs.parameters())
    assert ours["macs"] / 1e9 == pytest.approx(published_gflops, rel=0.03)


def test_summary_prints_per_stage_table():
    lines = []
    stages = zoo.summary("nl_i3d_r50", 8, 224, print_fn=lines.append)
    assert set(stages) >= {"stem", "res2", "res3", "res4", "res5", "head", "total"}
    assert sum(s["params"] for k, s in stages.items() if k != "total") == stages["total"]["params"]
    assert "nl_i3d_r50 at 8x224x224" in lines[0]
    # the 5 non-local blocks are in res3 and res4
    plain = zoo.summary("i3d_r50", 8, 224, print_fn=None)
    assert stages["res5"] == plain["res5"]
    assert stages["res3"]["params"] > plain["res3"]["params"]
