# Copyright (c) dckd_mm contributors. All rights reserved.
"""The all-or-nothing writers (dckd_mm.utils.atomic): fsync of file and
folder, a failed or killed write leaves the old file, a real full disk and
a real file-size limit, and refusing outputs that cannot be written."""
import os
import stat

import pytest
import torch

import dckd_mm  # noqa: F401
from dckd_mm.compat import safe_load
from dckd_mm.utils import atomic as atomic_mod
from dckd_mm.utils.atomic import atomic_save, atomic_write


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
    real = atomic_mod.atomic_write

    def spy(path, write):
        written.append(os.path.basename(path))
        return real(path, write)

    monkeypatch.setattr(atomic_mod, 'atomic_write', spy)
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


_SAVE_UNDER_LIMIT = '''
import sys
import torch
from dckd_mm.errors import DCKDError
from dckd_mm.utils.atomic import atomic_save
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
    from dckd_mm.utils.atomic import check_output
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
    from dckd_mm.utils.atomic import check_output
    from tests.fixtures.filesystems import make_read_only, tmpfs
    with tmpfs(str(tmp_path / 'ro')) as disk:
        make_read_only(disk)
        with pytest.raises(OutputPathError, match='is not writable'):
            check_output(os.path.join(disk, 'sub', 'x.pth'))


def test_atomic_write_files_undoes_the_first_rename(tmp_path):
    """The second rename fails for real (its name became a folder after
    the files were written): the first file is put back as it was, and
    no .partial or backup is left."""
    from dckd_mm.utils.atomic import atomic_write_files
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
