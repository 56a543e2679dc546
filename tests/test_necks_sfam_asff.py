"""M2Det's MLFPN (FFMv1, TUM, FFMv2, SFAM) and ASFF: shapes, normalised weights,
input validation."""

import pytest
import torch

from nblib.necks.asff import ASFF, ASFFNeck
from nblib.necks.sfam import MLFPN, SFAM, TUM

SMALL = {"tums": 3, "scales": 4, "planes": 16, "base_channels": (32, 64)}


def feats(channels, size, batch=2):
    torch.manual_seed(0)
    return [
        torch.randn(batch, c, size // 2**i, size // 2**i)
        for i, c in enumerate(channels)
    ]


def test_mlfpn_shapes():
    m = MLFPN([64, 128], reduction=4, **SMALL).eval()
    out = m(feats([64, 128], 32))
    # stride-2 convs 32 -> 16 -> 8, then the unpadded 3x3 takes 8 to 6
    assert [tuple(o.shape) for o in out] == [(2, 48, s, s) for s in (32, 16, 8, 6)]
    assert m.out_channels == [48] * 4


def test_mlfpn_paper_configuration_at_320_pixels():
    """Six scales at 40, 20, 10, 5, 3, 1 pixels, 8 x 256 channels each; TUM inputs
    128 (base only) and 128 + 256 (base and the previous TUM's largest map)."""
    with torch.device("meta"):
        m = MLFPN([512, 1024]).eval()
        out = m([torch.empty(1, 512, 40, 40), torch.empty(1, 1024, 20, 20)])
    assert [tuple(o.shape[1:]) for o in out] == [
        (2048, s, s) for s in (40, 20, 10, 5, 3, 1)
    ]
    assert [t.in_channels for t in m.tums] == [128] + [384] * 7
    assert m.ffmv1.out_channels == 768


def test_tum_and_sfam():
    tum = TUM(24, 16, scales=3)
    pyr = tum(torch.randn(1, 24, 20, 20))
    assert [tuple(p.shape) for p in pyr] == [
        (1, 16, 20, 20),
        (1, 16, 10, 10),
        (1, 16, 8, 8),
    ]
    assert len(tum.encoder) == 2 and len(tum.lateral) == 2 and len(tum.smooth) == 2
    with pytest.raises(ValueError, match="expects 24 channels"):
        tum(torch.randn(1, 16, 20, 20))
    with pytest.raises(ValueError, match="at least 3 scales"):
        TUM(24, 16, scales=2)
    sfam = SFAM(32, 3, reduction=4)
    w = sfam.attention([pyr, pyr])
    assert [tuple(x.shape) for x in w] == [(1, 32, 1, 1)] * 3
    assert all(((x > 0) & (x < 1)).all() for x in w)


def test_mlfpn_validation():
    m = MLFPN([64, 128], reduction=4, **SMALL)
    with pytest.raises(ValueError, match="expects 2 levels"):
        m(feats([64, 128, 256], 32))
    with pytest.raises(ValueError, match="level 1"):
        m(feats([64, 99], 32))
    with pytest.raises(ValueError, match="fuses 2 levels"):
        MLFPN([64], **SMALL)
    with pytest.raises(ValueError, match="planes must be even"):
        MLFPN([64, 128], tums=2, planes=15)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_asff_weights_sum_to_one(level):
    m = ASFF([16, 16, 32], level, compress=4).eval()
    # widths equal: upsampling needs no conv, downsampling always has one
    if level == 0:
        assert isinstance(m.resize[1][0], torch.nn.Identity)
    x = feats([16, 16, 32], 16)
    with torch.no_grad():
        resized, w = m.weights(x)
        out = m(x)
    size = 16 // 2**level
    assert tuple(w.shape) == (2, 3, size, size)
    torch.testing.assert_close(w.sum(1), torch.ones(2, size, size))
    assert all(tuple(r.shape) == (2, [16, 16, 32][level], size, size) for r in resized)
    assert tuple(out.shape) == (2, [16, 16, 32][level], size, size)


def test_asff_neck_and_validation():
    neck = ASFFNeck([16, 16, 32], [8, 8, 8], compress=4)
    out = neck(feats([16, 16, 32], 16))
    assert [tuple(o.shape) for o in out] == [(2, 8, 16, 16), (2, 8, 8, 8), (2, 8, 4, 4)]
    with pytest.raises(ValueError, match="expects 3 levels"):
        neck(feats([16, 16], 16))
    with pytest.raises(ValueError, match="expected"):
        neck(feats([16, 16, 16], 16))
    with pytest.raises(ValueError, match="stride of exactly 2"):
        neck(
            [
                torch.randn(1, 16, 16, 16),
                torch.randn(1, 16, 4, 4),
                torch.randn(1, 32, 2, 2),
            ]
        )
    with pytest.raises(ValueError, match="level 3"):
        ASFF([16, 16, 32], 3)
    with pytest.raises(ValueError, match="outputs"):
        ASFFNeck([16, 16, 32], [8, 8])
