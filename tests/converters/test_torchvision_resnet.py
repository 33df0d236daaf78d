# Copyright (c) dckd_mm contributors. All rights reserved.
"""The torchvision converter refuses with ConversionError, and the tools
print what the shared error surface prints: a refusal as ``error: ...``
with exit status 2, a bug with its traceback and status 1. (The logit
round trip is in tests/test_imagenet.py.)"""
import pytest
import torch

import dckd_mm  # noqa: F401
from dckd_mm.converters import (ConversionError, ConversionResult,
                                convert_torchvision_file,
                                torchvision_resnet_cfg)
from tests.helpers import run_tool

TOOL = 'tools/model_converters/convert_torchvision_resnet.py'


def test_refusals_are_conversion_errors(tmp_path):
    src = tmp_path / 'partial.pth'
    torch.save({'fc.weight': torch.zeros(1000, 512)}, src)
    with pytest.raises(ConversionError, match='missing key'):
        convert_torchvision_file(str(src), 18)
    torch.save({'epoch': 3}, src)
    with pytest.raises(ConversionError, match='no state dict'):
        convert_torchvision_file(str(src), 18)
    with pytest.raises(ConversionError, match='depth 19'):
        torchvision_resnet_cfg(19)


def test_tool_reports_refusals_and_keeps_bug_tracebacks(tmp_path,
                                                        monkeypatch):
    src, dst = tmp_path / 'partial.pth', tmp_path / 'o.pth'
    torch.save({'fc.weight': torch.zeros(1000, 512)}, src)
    res = run_tool(TOOL, str(src), str(dst), '--depth', '18')
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith('error: the source does not convert')
    assert 'Traceback' not in res.stderr and not dst.exists()

    import dckd_mm.converters as converters

    def bug(*args, **kwargs):
        raise RuntimeError('an injected bug')

    monkeypatch.setattr(converters, 'convert_torchvision_file', bug)
    res = run_tool(TOOL, str(src), str(dst), '--depth', '18')
    assert res.returncode == 1
    assert 'Traceback' in res.stderr and 'an injected bug' in res.stderr


def test_result_saves_state_dict_and_meta(tmp_path):
    result = ConversionResult({'w': torch.ones(2)}, dict(type='X'),
                              dict(source='s.pth'))
    result.save(str(tmp_path / 'r.pth'))
    saved = torch.load(str(tmp_path / 'r.pth'))
    assert set(saved) == {'state_dict', 'meta'}
    assert torch.equal(saved['state_dict']['w'], torch.ones(2))
    assert saved['meta'] == dict(source='s.pth')


def test_tool_refuses_a_folder_and_no_classes_first(tmp_path):
    """D11: the output name is checked before the source is read (a
    folder is an error, not a traceback after the conversion), and
    `--num-classes 0` is a refusal, not the head builder's ValueError."""
    src, dst = tmp_path / 'partial.pth', tmp_path / 'o.pth'
    torch.save({'fc.weight': torch.zeros(1000, 512)}, src)
    dst.mkdir()
    res = run_tool(TOOL, str(src), str(dst), '--depth', '18')
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f'error: checkpoint {dst} is a folder')
    assert list(dst.iterdir()) == []
    dst.rmdir()
    res = run_tool(TOOL, str(src), str(dst), '--depth', '18',
                   '--num-classes', '0')
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith('error: --num-classes 0: a classifier')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['partial.pth']
