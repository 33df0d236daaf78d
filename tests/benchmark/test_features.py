# Copyright (c) dckd_mm contributors. All rights reserved.
"""Student features, the t-SNE and similarity-matrix tools
(dckd_mm.benchmark.features, .feature_plots) on tiny digits data."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from dckd_mm.benchmark.features import extract_features, similarity_matrix
from dckd_mm.errors import ConfigError, MissingFileError
from tests.helpers import build_model, run_tool, save_teacher_ckpt

STUDENT = 'configs/demo/resnet8_1xb64_digits.py'
SIMKD = 'configs/demo/dckd_resnet20_resnet8_1xb64_digits.py'


def test_similarity_matrix_values():
    feats = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    sim, labels = similarity_matrix(feats, np.array([1, 0, 1]))
    assert labels.tolist() == [0, 1, 1]
    np.testing.assert_allclose(sim, [[1, 0, 0], [0, 1, 1], [0, 1, 1]])


@pytest.mark.parametrize('tool', ['tsne', 'similarity_matrix'])
def test_tools_side_by_side(tool, tmp_path):
    torch.manual_seed(0)
    plain = build_model(Config.fromfile(STUDENT).model.to_dict())
    torch.save({'state_dict': plain.state_dict()}, tmp_path / 'plain.pth')
    cfg = Config.fromfile(SIMKD)
    t_ckpt = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), t_ckpt)
    cfg.model.teacher_ckpt = t_ckpt
    algo = build_model(cfg.model.to_dict())
    torch.save({'state_dict': algo.state_dict()}, tmp_path / 'simkd.pth')
    out = tmp_path / f'{tool}.png'
    res = run_tool(f'tools/analysis_tools/{tool}.py', str(out),
                   '--model', 'alone', STUDENT, str(tmp_path / 'plain.pth'),
                   '--model', 'SimKD+DCKD', SIMKD,
                   str(tmp_path / 'simkd.pth'), '--max-samples', '40')
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000


def test_features_are_the_reused_classifier_input(tmp_path):
    cfg = Config.fromfile(SIMKD)
    t_ckpt = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), t_ckpt)
    cfg.model.teacher_ckpt = t_ckpt
    algo = build_model(cfg.model.to_dict())
    torch.save({'state_dict': algo.state_dict()}, tmp_path / 'a.pth')
    feats, labels = extract_features(SIMKD, str(tmp_path / 'a.pth'),
                                     max_samples=8)
    assert feats.shape == (8, 64) and labels.shape == (8, )
    algo.eval()
    with torch.no_grad():
        logits = algo.student.head.fc(torch.from_numpy(feats))
    assert torch.isfinite(logits).all()


def test_bad_input_is_refused(tmp_path):
    missing = str(tmp_path / 'none.pth')
    with pytest.raises(MissingFileError, match='none.pth'):
        extract_features(STUDENT, missing)
    plain = build_model(Config.fromfile(STUDENT).model.to_dict())
    ckpt = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': plain.state_dict()}, ckpt)
    with pytest.raises(ConfigError, match='at least 1'):
        extract_features(STUDENT, ckpt, max_samples=0)
    with pytest.raises(ConfigError, match='no val_dataloader'):
        extract_features(STUDENT, ckpt, 'val',
                         cfg_options={'val_dataloader': None})
    res = run_tool('tools/analysis_tools/tsne.py', str(tmp_path / 'a.png'),
                   '--model', 'x', STUDENT, missing)
    assert res.returncode == 2
    assert res.stderr.startswith('error: checkpoint ') and \
        'none.pth does not exist' in res.stderr
