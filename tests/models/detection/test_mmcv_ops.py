# Copyright (c) dckd_mm contributors. All rights reserved.
"""mmcv's compiled CPU ops (built by .dev_scripts/build_mmcv.sh) are there
and correct, compared with torchvision's implementations."""
import pytest
import torch
import torchvision

# needs mmdet and mmcv's compiled ops (not on the oldest lane)
pytestmark = pytest.mark.detection


def test_mmdet_and_ops_import():
    import mmcv._ext  # noqa: F401
    import mmdet.models  # noqa: F401
    from mmcv.ops import RoIAlign, nms  # noqa: F401


def test_nms_matches_torchvision():
    from mmcv.ops import nms
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=g) * 100
    wh = torch.rand(200, 2, generator=g) * 30 + 1
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(200, generator=g)
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    ref = torchvision.ops.nms(boxes, scores, 0.5)
    assert torch.equal(keep.sort().values, ref.sort().values)
    assert 0 < len(ref) < 200


def test_roi_align_matches_torchvision():
    from mmcv.ops import RoIAlign
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 8, 32, 32, generator=g)
    rois = torch.tensor([[0, 1.0, 2.0, 20.0, 25.0], [1, 4.0, 4.0, 30.0, 18.0],
                         [0, 0.0, 0.0, 31.0, 31.0]])
    ours = RoIAlign((7, 7), spatial_scale=0.5, sampling_ratio=2,
                    aligned=True)(feat, rois)
    ref = torchvision.ops.roi_align(feat, rois, (7, 7), spatial_scale=0.5,
                                    sampling_ratio=2, aligned=True)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
