# Copyright (c) dckd_mm contributors. All rights reserved.
"""Damaged checkpoints are refused on every load path (issue 24).

The faults are real: a checkpoint written by ``torch.save`` (or by
mmengine's Runner), then 4 bytes flipped inside one record of its zip
archive, found through the record's ``header_offset`` and the length of
its local header. ``torch.load`` accepts such a file (a weight becomes
1.7e38); every dckd_mm load path must refuse it, naming the file and the
damaged record, and load nothing.
"""
import os.path as osp
import struct
import zipfile
from typing import List

import pytest
import torch
import torch.nn as nn

import dckd_mm  # noqa: F401  (installs the host fixes)
from dckd_mm.compat import CorruptCheckpointError, safe_load
from dckd_mm.compat.integrity import verify_checkpoint
from dckd_mm.errors import DCKDError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# 4 bytes that make a float32 1.7e38 (little-endian 0x7effffff)
FLIP = b'\xff\xff\xff\x7e'


def record_offset(path: str, name: str) -> int:
    """Where the bytes of record ``name`` start in zip file ``path``."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with open(path, 'rb') as f:
        f.seek(info.header_offset)
        header = f.read(30)
    assert header[:4] == b'PK\x03\x04'
    name_len, extra_len = struct.unpack('<HH', header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def record_of(path: str, tensor: torch.Tensor) -> str:
    """The record of zip checkpoint ``path`` that holds ``tensor``'s
    bytes (its storage)."""
    data = tensor.detach().contiguous().numpy().tobytes()
    with zipfile.ZipFile(path) as zf:
        found = [n for n in zf.namelist() if zf.read(n) == data]
    assert len(found) == 1, found
    return found[0]


def flip(path: str, name: str, at: int = 4, data: bytes = FLIP) -> None:
    """Overwrite bytes ``at`` .. ``at + len(data)`` of record ``name``."""
    offset = record_offset(path, name) + at
    with open(path, 'r+b') as f:
        f.seek(offset)
        old = f.read(len(data))
        assert old != data
        f.seek(offset)
        f.write(data)


def records(path: str) -> List[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


@pytest.fixture
def damaged(tmp_path):
    """A zip checkpoint with 4 bytes flipped inside the student's weight,
    and the name of the damaged record."""
    path = str(tmp_path / 'epoch_3.pth')
    weight = torch.arange(64, dtype=torch.float32)
    torch.save({'meta': {'epoch': 3},
                'state_dict': {'teacher.w': torch.zeros(8),
                               'student.w': weight}}, path)
    name = record_of(path, weight)
    flip(path, name)
    return path, name


def test_torch_alone_loads_the_damaged_file(damaged):
    """The fault is real and torch does not see it (what the fix is for)."""
    path, _ = damaged
    state = torch.load(path, map_location='cpu',
                       weights_only=True)['state_dict']
    assert state['student.w'][1].item() > 1e38


@pytest.mark.parametrize('trusted', [False, True])
def test_safe_load_refuses_a_flipped_tensor(damaged, trusted):
    path, name = damaged
    assert name.endswith(('/data/0', '/data/1'))
    with pytest.raises(CorruptCheckpointError) as info:
        safe_load(path, trusted=trusted)
    text = str(info.value)
    assert path in text and repr(name) in text and 'CRC-32' in text
    assert "holding ckpt['state_dict']['student.w']" in text
    assert 'corrupt' in text and 'Re-download' in text
    assert isinstance(info.value, DCKDError)


def test_every_record_is_verified(tmp_path):
    """A flip in any record (the pickle, each storage, the version
    records) is refused, naming that record."""
    good = str(tmp_path / 'good.pth')
    torch.save({'state_dict': {'a': torch.ones(32), 'b': torch.zeros(8)},
                'meta': {'epoch': 1}}, good)
    original = open(good, 'rb').read()
    names = records(good)
    assert any(n.endswith('data.pkl') for n in names)
    for name in names:
        path = str(tmp_path / 'bad.pth')
        with open(path, 'wb') as f:
            f.write(original)
        flip(path, name, at=0, data=b'\x00' if original[
            record_offset(path, name)] != 0 else b'\x01')
        with pytest.raises(CorruptCheckpointError, match=repr(name)):
            safe_load(path)


def test_intact_file_loads_exactly_as_before(tmp_path):
    path = str(tmp_path / 'good.pth')
    state = {'w': torch.randn(5, 3), 'i': torch.arange(4),
             'h': torch.randn(7).half()}
    torch.save({'state_dict': state, 'meta': {'epoch': 2}}, path)
    assert verify_checkpoint(path) is True
    loaded = safe_load(path)
    assert loaded['meta'] == {'epoch': 2}
    for key, value in state.items():
        assert torch.equal(loaded['state_dict'][key], value)
        assert loaded['state_dict'][key].dtype == value.dtype


def test_truncated_zip_is_corrupt_naming_the_container(tmp_path):
    path = str(tmp_path / 'cut.pth')
    torch.save({'w': torch.ones(1000)}, path)
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(CorruptCheckpointError,
                       match='corrupt, truncated.*zip container'):
        safe_load(path)


def test_legacy_format_has_no_checksum(tmp_path):
    """What is not checked, written down as a test: a legacy (non-zip)
    checkpoint carries no CRC, so flipped tensor bytes load; a truncated
    one is still refused by torch."""
    path = str(tmp_path / 'legacy.pth')
    weight = torch.arange(64, dtype=torch.float32)
    torch.save({'state_dict': {'w': weight}}, path,
               _use_new_zipfile_serialization=False)
    assert verify_checkpoint(path) is False
    data = bytearray(open(path, 'rb').read())
    at = bytes(data).find(weight.numpy().tobytes())
    assert at > 0
    data[at + 4:at + 8] = FLIP
    with open(path, 'wb') as f:
        f.write(bytes(data))
    assert safe_load(path)['state_dict']['w'][1].item() > 1e38
    with open(path, 'wb') as f:
        f.write(bytes(data[:len(data) // 2]))
    with pytest.raises(CorruptCheckpointError, match='truncated'):
        safe_load(path)


# -- the load paths that go through mmengine or dckd_mm's own loaders --


def test_mmengine_loader_refuses(damaged):
    """``load_from``, ``init_cfg`` Pretrained and resume all read local
    files through mmengine's ``CheckpointLoader``."""
    from mmengine.runner.checkpoint import CheckpointLoader
    path, name = damaged
    with pytest.raises(CorruptCheckpointError, match=repr(name)):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')


def test_teacher_load_refuses(tmp_path):
    from dckd_mm.utils.checkpoint import load_model_strict
    teacher = nn.Linear(8, 4)
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, path)
    name = record_of(path, teacher.weight)
    flip(path, name)
    before = teacher.weight.detach().clone()
    with pytest.raises(CorruptCheckpointError, match=repr(name)):
        load_model_strict(nn.Linear(8, 4), path)
    assert torch.equal(teacher.weight, before)


def test_converter_load_refuses(damaged):
    from dckd_mm.converters.loading import load_foreign_checkpoint
    path, name = damaged
    with pytest.raises(CorruptCheckpointError, match=repr(name)):
        load_foreign_checkpoint(path)


def _toy_runner(work_dir: str, max_epochs: int, **kwargs):
    from tests.compat.test_safe_loading import toy_runner
    return toy_runner(work_dir, max_epochs, name=f'integrity_{max_epochs}_'
                      f'{osp.basename(work_dir)}', **kwargs)


def test_runner_resume_and_load_from_refuse(tmp_path):
    """mmengine's own resume (``resume=True``) and ``load_from`` on a real
    Runner checkpoint with flipped weight bytes."""
    work = str(tmp_path / 'work')
    runner = _toy_runner(work, 1, resume=False)
    runner.train()
    ckpt = osp.join(work, 'epoch_1.pth')
    weight = runner.model.linear.weight.detach()
    name = record_of(ckpt, weight)
    flip(ckpt, name)
    resumed = _toy_runner(work, 2, resume=True)
    with pytest.raises(CorruptCheckpointError) as info:
        resumed.train()
    assert ckpt in str(info.value) and repr(name) in str(info.value)
    assert "ckpt['state_dict']['linear.weight']" in str(info.value)
    assert resumed.epoch == 0  # nothing was loaded, nothing trained
    loaded = _toy_runner(str(tmp_path / 'other'), 1, resume=False)
    loaded._load_from = ckpt
    with pytest.raises(CorruptCheckpointError, match=repr(name)):
        loaded.train()


@pytest.fixture(scope='module')
def fitting(tmp_path_factory):
    """A tiny CIFAR-100 distillation config (4 training images, one
    iteration an epoch) and the work dir of its 1-epoch run."""
    from mmengine.runner import Runner

    from tests.helpers import (run_name, save_teacher_ckpt, tiny_run_cfg,
                               write_cifar100)
    tmp = tmp_path_factory.mktemp('integrity')
    cfg_file = osp.join(ROOT, 'configs/dckd/res32x4_res8x4_cifar100.py')
    root = write_cifar100(str(tmp / 'cifar'), 4, 6)
    cfg = tiny_run_cfg(cfg_file, str(tmp / 'build'), root, batch_size=4)
    teacher = str(tmp / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), teacher)
    cfg.model.teacher_ckpt = teacher
    cfg.experiment_name = run_name('integrity')
    path = str(tmp / 'cfg.py')
    cfg.dump(path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = str(tmp / 'build' / 'epoch_1.pth')
    # the student's first convolution (the teacher is 'teacher.*')
    weight = runner.model.state_dict()['architecture.backbone.conv1.weight']
    return dict(cfg=path, ckpt=ckpt, work=str(tmp / 'build'), weight=weight)


def test_train_resume_refuses_a_damaged_checkpoint(fitting, tmp_path):
    """The issue's case: ``tools/train.py --resume`` on a checkpoint with
    4 flipped bytes in a student weight trained on with exit 0."""
    import shutil

    from tests.helpers import run_tool
    work = tmp_path / 'work'
    work.mkdir()
    path = str(work / 'epoch_1.pth')
    shutil.copy(fitting['ckpt'], path)
    (work / 'last_checkpoint').write_text(path)
    name = record_of(path, fitting['weight'])
    flip(path, name)
    res = run_tool('tools/train.py', fitting['cfg'], '--work-dir', str(work),
                   '--resume', '--cfg-options', 'train_cfg.max_epochs=2')
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.startswith('error: ')
    assert path in res.stderr and repr(name) in res.stderr
    assert not (work / 'epoch_2.pth').exists()


def test_test_tool_refuses_a_damaged_checkpoint(fitting, tmp_path):
    import shutil

    from tests.helpers import run_tool
    path = str(tmp_path / 'epoch_240.pth')
    shutil.copy(fitting['ckpt'], path)
    name = record_of(path, fitting['weight'])
    flip(path, name)
    work = tmp_path / 'w'
    res = run_tool('tools/test.py', fitting['cfg'], path, '--work-dir',
                   str(work))
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.startswith('error: ')
    assert path in res.stderr and repr(name) in res.stderr
    assert "['architecture.backbone.conv1.weight']" in res.stderr
    assert 'accuracy/top1' not in res.stdout


def test_export_refuses_a_damaged_checkpoint(fitting, tmp_path):
    import shutil

    from tests.helpers import run_tool
    path = str(tmp_path / 'epoch_240.pth')
    shutil.copy(fitting['ckpt'], path)
    name = record_of(path, fitting['weight'])
    flip(path, name)
    out = tmp_path / 'student.pth'
    res = run_tool('tools/model_converters/export_student.py',
                   fitting['cfg'], path, str(tmp_path / 'student.py'),
                   str(out))
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.startswith('error: ') and repr(name) in res.stderr
    assert not out.exists() and not (tmp_path / 'student.py').exists()


def test_legacy_cut_inside_a_global_name_is_corrupt(tmp_path):
    """A legacy file truncated inside a global's name
    (``collections.Order``) is damaged, not untrusted."""
    from dckd_mm.compat import UntrustedCheckpointError
    path = str(tmp_path / 'legacy.pth')
    torch.save({'state_dict': {'w': torch.ones(4)}}, path,
               _use_new_zipfile_serialization=False)
    data = open(path, 'rb').read()
    cut = data.find(b'collections\nOrderedDict') + len('collections\nOrder')
    assert cut > 20
    with open(path, 'wb') as f:
        f.write(data[:cut])
    try:
        safe_load(path)
    except UntrustedCheckpointError as err:  # the bug
        pytest.fail(f'a truncated file reported as untrusted: {err}')
    except CorruptCheckpointError:
        pass


def test_damaged_hostile_file_never_runs(tmp_path):
    """Naming the damaged tensor reads the pickle with the allow-list: a
    hostile pickle in a damaged file is refused, and nothing runs."""
    import builtins
    marker = tmp_path / 'pwned'

    class Opens:

        def __reduce__(self):
            return (builtins.open, (str(marker), 'w'))

    path = str(tmp_path / 'evil.pth')
    weight = torch.arange(16, dtype=torch.float32)
    torch.save({'w': weight, 'x': Opens()}, path)
    name = record_of(path, weight)
    flip(path, name)
    with pytest.raises(CorruptCheckpointError, match=repr(name)):
        safe_load(path)
    assert not marker.exists()
