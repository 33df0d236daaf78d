# Copyright (c) dckd_mm contributors. All rights reserved.
"""The checkpoint helpers: one state-dict extractor for every format, one
all-or-nothing writer, strict loading through mmengine's safe loader."""
import os
import stat
from collections import OrderedDict

import pytest
import torch
from torch import nn

import dckd_mm  # noqa: F401
from dckd_mm.compat import UntrustedCheckpointError, safe_load, safe_loading
from dckd_mm.utils import checkpoint as ckpt_mod
from dckd_mm.utils.checkpoint import (atomic_save, atomic_write,
                                      extract_state_dict, load_model_strict)


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


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def safe_loads(monkeypatch):
    """Paths read by ``safe_load`` (mmengine's local scheme calls it)."""
    seen = []
    real = safe_loading.safe_load

    def spy(path, *args, **kwargs):
        seen.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(safe_loading, 'safe_load', spy)
    return seen


def test_load_model_strict_reads_every_format_through_safe_load(
        tmp_path, safe_loads, monkeypatch):
    src = _net(1)
    src[1].running_mean.fill_(0.5)
    state = src.state_dict()
    module = OrderedDict(('module.' + k, v) for k, v in state.items())
    files = {
        'mmengine.pth': {'state_dict': state, 'meta': {'epoch': 3}},
        # RepDistiller's *_best.pth: 'model', DataParallel keys
        'repdistiller.pth': {'epoch': 240, 'model': module,
                             'best_acc': 75.0,
                             'optimizer': {'state': {}, 'param_groups': []}},
        'bare.pth': module,
    }
    for name, ckpt in files.items():
        torch.save(ckpt, tmp_path / name)
        model = _net(0)
        assert not _same(model, src)
        load_model_strict(model, str(tmp_path / name))
        assert _same(model, src), name
    assert safe_loads == [str(tmp_path / n) for n in files]
    # relative and ~ paths are the same files
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('HOME', str(tmp_path))
    for path in ('bare.pth', '~/bare.pth'):
        model = _net(0)
        load_model_strict(model, path)
        assert _same(model, src)


def test_load_model_strict_missing_file(tmp_path):
    path = str(tmp_path / 'none.pth')
    with pytest.raises(FileNotFoundError) as err:
        load_model_strict(_net(0), path)
    msg = str(err.value)
    assert msg.startswith(f"teacher checkpoint {path!r} (config key "
                          "'teacher_ckpt') does not exist.")
    assert 'configs/zoo/' in msg and 'convert_repdistiller_ckpt.py' in msg
    assert 'model.teacher_ckpt=PATH' in msg
    with pytest.raises(FileNotFoundError,
                       match=r"^student checkpoint .* \(config key 'init'\)"
                       r'.*model\.init=PATH'):
        load_model_strict(_net(0), path, what='student', config_key='init')


def test_load_model_strict_mismatch_is_ours_and_loads_nothing(tmp_path):
    model = _net(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = _net(1).state_dict()
    del state['1.running_var']
    state['0.weight'] = torch.zeros(5, 4)
    state['extra.weight'] = torch.zeros(1)
    torch.save({'state_dict': state}, tmp_path / 'bad.pth')
    with pytest.raises(ValueError) as err:
        load_model_strict(model, str(tmp_path / 'bad.pth'))
    msg = str(err.value)
    assert 'does not fit the teacher model in the config: ' in msg
    assert "1 missing key(s), e.g. ['1.running_var']" in msg
    assert "1 unexpected key(s), e.g. ['extra.weight']" in msg
    assert "1 shape mismatch(es), e.g. ['0.weight: (5, 4) vs model (3, 4)']" \
        in msg
    assert 'convert_repdistiller_ckpt.py' in msg
    assert all(torch.equal(v, before[k])
               for k, v in model.state_dict().items())


def test_load_model_strict_refuses_nan_and_inf(tmp_path):
    model = _net(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = _net(1).state_dict()
    state['0.weight'][0, 0] = float('nan')
    state['1.bias'][1] = float('inf')
    torch.save({'state_dict': state}, tmp_path / 'nan.pth')
    with pytest.raises(ValueError,
                       match=r'holds NaN or Inf values in 2 tensor\(s\), '
                       r"e.g. \['0.weight', '1.bias'\]"):
        load_model_strict(model, str(tmp_path / 'nan.pth'))
    assert all(torch.equal(v, before[k])
               for k, v in model.state_dict().items())


def test_load_model_strict_refuses_untrusted_pickle(tmp_path, safe_loads):
    import builtins

    class Evil:

        def __reduce__(self):
            return (builtins.open, (str(tmp_path / 'pwned'), 'w'))

    torch.save({'state_dict': _net(1).state_dict(), 'x': Evil()},
               tmp_path / 'evil.pth')
    with pytest.raises(UntrustedCheckpointError, match='untrusted'):
        load_model_strict(_net(0), str(tmp_path / 'evil.pth'))
    assert not (tmp_path / 'pwned').exists()
    assert safe_loads == [str(tmp_path / 'evil.pth')]


# -- a real full disk, a real file-size limit, real unwritable names --

_SAVE_UNDER_LIMIT = '''
import sys
import torch
from dckd_mm.errors import DCKDError
from dckd_mm.utils.checkpoint import atomic_save
try:
    atomic_save({'w': torch.zeros(100000)}, sys.argv[1])
except Exception as err:
    print(f'{type(err).__name__} errno={getattr(err, "errno", None)} '
          f'user error={isinstance(err, DCKDError)}: {err}')
    sys.exit(3)
'''


def test_atomic_save_under_a_real_file_size_limit(tmp_path):
    """torch.save fails inside its zip writer (``RuntimeError: [enforce
    fail at inline_container.cc] ... unexpected pos``, the EFBIG only in
    its context): that used to be the error. Now it is OutOfSpaceError,
    naming the file and the free space; the old file stays."""
    import errno

    from tests.fixtures.filesystems import run_limited
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'old checkpoint')
    proc = run_limited(['-c', _SAVE_UNDER_LIMIT, str(path)], 100_000)
    assert proc.returncode == 3, proc.stderr[-3000:]
    out = proc.stdout
    assert f'OutOfSpaceError errno={errno.EFBIG} user error=True: ' \
        f'writing {path} failed: File too large (' in out
    assert 'the file would exceed the file-size limit' in out
    assert 'file-size limit' in out and 'MiB free on' in out
    assert 'was left as it was' in out
    assert os.listdir(tmp_path) == ['epoch_1.pth']
    assert path.read_bytes() == b'old checkpoint'


def test_atomic_save_on_a_real_full_disk(tmp_path):
    """A 1 MiB tmpfs and a 4 MB checkpoint: a real ENOSPC."""
    import errno

    from dckd_mm.errors import DCKDError, OutOfSpaceError
    from tests.fixtures.filesystems import tmpfs
    with tmpfs(str(tmp_path / 'disk'), '1m') as disk:
        path = os.path.join(disk, 'model.pth')
        atomic_save({'w': torch.ones(10)}, path)
        before = open(path, 'rb').read()
        with pytest.raises(OutOfSpaceError) as err:
            atomic_save({'w': torch.zeros(1_000_000)}, path)
        assert isinstance(err.value, DCKDError)
        assert isinstance(err.value, OSError)
        assert err.value.errno == errno.ENOSPC
        msg = str(err.value)
        assert msg.startswith(f'writing {path} failed: No space left on '
                              'device (')
        assert 'the disk or quota is full: free some space' in msg
        assert f'MiB free on {disk}' in msg and 'free some space' in msg
        assert os.listdir(disk) == ['model.pth']
        assert open(path, 'rb').read() == before


def test_check_output_refuses_what_cannot_be_written(tmp_path):
    from dckd_mm.errors import DCKDError, OutputPathError
    from dckd_mm.utils.checkpoint import check_output
    (tmp_path / 'folder').mkdir()
    (tmp_path / 'file').write_text('x')
    with pytest.raises(OutputPathError, match='is a folder') as err:
        check_output(str(tmp_path / 'folder'), 'student config')
    assert isinstance(err.value, DCKDError)
    assert str(err.value).startswith(
        f"student config {tmp_path / 'folder'} is a folder")
    with pytest.raises(OutputPathError, match='is a file, not a folder'):
        check_output(str(tmp_path / 'file' / 'sub' / 'x.pth'))
    with pytest.raises(OutputPathError, match='empty'):
        check_output('')
    # missing folders are fine: the writers create them
    check_output(str(tmp_path / 'new' / 'sub' / 'x.pth'))
    check_output(str(tmp_path / 'file'))  # an existing file is replaced
    assert sorted(os.listdir(tmp_path)) == ['file', 'folder']


def test_check_output_refuses_a_read_only_folder(tmp_path):
    from dckd_mm.errors import OutputPathError
    from dckd_mm.utils.checkpoint import check_output
    from tests.fixtures.filesystems import make_read_only, tmpfs
    with tmpfs(str(tmp_path / 'ro')) as disk:
        make_read_only(disk)
        with pytest.raises(OutputPathError, match='is not writable'):
            check_output(os.path.join(disk, 'sub', 'x.pth'))


def test_atomic_write_files_undoes_the_first_rename(tmp_path):
    """The second rename fails for real (its name became a folder after
    the files were written): the first file is put back as it was, and
    no .partial or backup is left."""
    from dckd_mm.utils.checkpoint import atomic_write_files
    a, b = tmp_path / 'a.pth', tmp_path / 'b.py'
    a.write_bytes(b'old a')
    b.write_bytes(b'old b')

    def sabotage(tmps):
        assert tmps == [str(a) + '.partial', str(b) + '.partial']
        b.unlink()
        b.mkdir()

    with pytest.raises(IsADirectoryError):
        atomic_write_files([(str(a), lambda f: f.write(b'new a')),
                            (str(b), lambda f: f.write(b'new b'))],
                           sabotage)
    assert sorted(os.listdir(tmp_path)) == ['a.pth', 'b.py']
    assert a.read_bytes() == b'old a'
    atomic_write_files([(str(a), lambda f: f.write(b'new a')),
                        (str(tmp_path / 'c'), lambda f: f.write(b'c'))])
    assert a.read_bytes() == b'new a'
    assert sorted(os.listdir(tmp_path)) == ['a.pth', 'b.py', 'c']
