# Copyright (c) dckd_mm contributors. All rights reserved.
"""The checkpoint helpers: one state-dict extractor for every format, one
all-or-nothing writer."""
import os
import stat
from collections import OrderedDict

import pytest
import torch

import dckd_mm  # noqa: F401
from dckd_mm.compat import safe_load
from dckd_mm.utils import checkpoint as ckpt_mod
from dckd_mm.utils.checkpoint import (atomic_save, atomic_write,
                                      extract_state_dict)


def test_extract_state_dict_every_format():
    w, b = torch.ones(2, 3), torch.zeros(2)
    bare = OrderedDict([('fc.weight', w), ('fc.bias', b)])
    wrapped = OrderedDict(('module.' + k, v) for k, v in bare.items())
    for ckpt in (bare, wrapped, {'state_dict': bare, 'meta': {}},
                 {'model': wrapped, 'epoch': 240, 'best_acc': 75.0},
                 {'net': bare, 'acc': 90.0}):
        out = extract_state_dict(ckpt)
        assert list(out) == ['fc.weight', 'fc.bias']
        assert out['fc.weight'] is w and out['fc.bias'] is b
    # mmengine's key wins over RepDistiller's when both are there
    assert list(extract_state_dict({'model': {'x': w},
                                    'state_dict': {'y': w}})) == ['y']


@pytest.mark.parametrize('ckpt', [
    {}, {'model': {}}, {'epoch': 3, 'best_acc': 70.0},
    {'state_dict': {'w': 1.0}}, [torch.ones(1)], torch.ones(1)
], ids=['empty', 'empty-model', 'no-state', 'not-tensors', 'list', 'tensor'])
def test_extract_state_dict_refuses_what_holds_none(ckpt):
    with pytest.raises(ValueError, match='holds no state dict of tensors'):
        extract_state_dict(ckpt)


@pytest.fixture
def fsyncs(monkeypatch):
    """Record what each ``os.fsync`` call syncs: 'file' or 'dir'."""
    kinds = []
    real = os.fsync

    def spy(fd):
        kinds.append('dir' if stat.S_ISDIR(os.fstat(fd).st_mode) else 'file')
        return real(fd)

    monkeypatch.setattr(os, 'fsync', spy)
    return kinds


def test_atomic_write_fsyncs_file_then_directory(tmp_path, fsyncs):
    path = tmp_path / 'sub' / 'out.bin'  # the folder is created
    atomic_write(str(path), lambda f: f.write(b'abc'))
    assert path.read_bytes() == b'abc'
    assert fsyncs == ['file', 'dir']
    assert os.listdir(path.parent) == ['out.bin']
    atomic_write(str(path), lambda f: f.write(b'de'))  # replaces it
    assert path.read_bytes() == b'de' and fsyncs[2:] == ['file', 'dir']


@pytest.mark.parametrize('error', [OSError(28, 'No space left on device'),
                                   KeyboardInterrupt()],
                         ids=['full-disk', 'interrupt'])
def test_atomic_write_failure_leaves_old_file_and_no_partial(tmp_path,
                                                             error):
    path = tmp_path / 'out.bin'
    path.write_bytes(b'old')

    def half(f):
        f.write(b'half')
        raise error

    with pytest.raises(type(error)):
        atomic_write(str(path), half)
    assert os.listdir(tmp_path) == ['out.bin']
    assert path.read_bytes() == b'old'


def test_atomic_write_failed_rename_removes_partial(tmp_path, monkeypatch,
                                                    fsyncs):
    def refuse(src, dst):
        raise PermissionError(13, 'Permission denied')

    monkeypatch.setattr(os, 'replace', refuse)
    with pytest.raises(PermissionError):
        atomic_write(str(tmp_path / 'out.bin'), lambda f: f.write(b'x'))
    assert os.listdir(tmp_path) == [] and fsyncs == ['file']


def test_atomic_write_where_folders_cannot_be_synced(tmp_path, monkeypatch,
                                                     fsyncs):
    real_open = os.open

    def no_dirs(path, flags, *args, **kwargs):
        if os.path.isdir(path):
            raise PermissionError(13, 'Permission denied')
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, 'open', no_dirs)
    atomic_write(str(tmp_path / 'out.bin'), lambda f: f.write(b'x'))
    assert (tmp_path / 'out.bin').read_bytes() == b'x'
    assert fsyncs == ['file']


def test_every_atomic_writer_is_the_one_routine(tmp_path, monkeypatch,
                                                fsyncs):
    """atomic_save, mmengine's patched save_checkpoint and last_checkpoint
    all go through atomic_write (and so fsync file and folder)."""
    from dckd_mm.compat.atomic_checkpoints import (_write_text_atomic,
                                                   atomic_save_checkpoint)
    written = []
    real = ckpt_mod.atomic_write

    def spy(path, write):
        written.append(os.path.basename(path))
        return real(path, write)

    monkeypatch.setattr(ckpt_mod, 'atomic_write', spy)
    state = {'w': torch.arange(3.0)}
    atomic_save({'state_dict': state}, str(tmp_path / 'a.pth'))
    atomic_save_checkpoint({'state_dict': state, 'meta': {'epoch': 1}},
                           str(tmp_path / 'epoch_1.pth'))
    _write_text_atomic(str(tmp_path / 'last_checkpoint'), 'epoch_1.pth')
    assert written == ['a.pth', 'epoch_1.pth', 'last_checkpoint']
    assert fsyncs == ['file', 'dir'] * 3
    for name in ('a.pth', 'epoch_1.pth'):
        loaded = safe_load(str(tmp_path / name))
        assert torch.equal(loaded['state_dict']['w'], state['w'])
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_1.pth'
    assert sorted(os.listdir(tmp_path)) == ['a.pth', 'epoch_1.pth',
                                            'last_checkpoint']
