# Copyright (c) dckd_mm contributors. All rights reserved.
"""A distillation checkpoint exports to a standalone mmpretrain student
whose predictions equal the distillation model's."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from dckd_mm.compat import safe_load
from dckd_mm.converters import verify_export
from tests.helpers import (build_model, run_name, run_tool, save_teacher_ckpt,
                           tiny_run_cfg, write_cifar100)

CONFIGS = {
    'simkd': 'configs/dckd/res32x4_res8x4_cifar100.py',
    # WRN student tapped before its final BN + ReLU, WRN teacher's target
    # its block3 output (docs/simkd_students.md)
    'simkd-wrn': 'configs/dckd/dckd_wrn-40-2_wrn-40-1_1xb64_cifar100.py',
    'logits':
    'configs/dckd/dckd_logits_resnet32x4_resnet8x4_1xb64_cifar100.py',
}


@pytest.mark.parametrize('kind', sorted(CONFIGS))
def test_export_round_trip(kind, tmp_path):
    root = write_cifar100(str(tmp_path / 'cifar'), 4, 4)
    cfg = tiny_run_cfg(CONFIGS[kind], str(tmp_path / 'work'), root)
    ckpt = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
    cfg.model.teacher_ckpt = ckpt
    cfg.experiment_name = run_name(f'export_{kind}')
    runner = Runner.from_cfg(cfg)
    runner.train()
    dump = str(tmp_path / 'distill.py')
    cfg.dump(dump)
    out_cfg, out_ckpt = str(tmp_path / 's.py'), str(tmp_path / 's.pth')
    res = run_tool('tools/model_converters/export_student.py', dump,
                   osp.join(cfg.work_dir, 'epoch_1.pth'), out_cfg, out_ckpt)
    assert res.returncode == 0, res.stderr
    s_cfg = Config.fromfile(out_cfg)
    assert 'teacher' not in s_cfg.model
    student = build_model(s_cfg.model.to_dict()).eval()
    state = safe_load(out_ckpt)['state_dict']
    student.load_state_dict(state, strict=True)
    if kind.startswith('simkd'):
        assert s_cfg.model.head.type == 'SimKDClsHead'
        assert torch.equal(state['head.fc.weight'],
                           runner.model.teacher.head.fc.weight)
    algo = runner.model
    algo.eval()  # mmrazor's train() returns None: no chaining
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(student(x, mode='tensor'),
                                   algo.student(x, mode='tensor'))


def test_export_refuses_non_distillation_checkpoint(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save({'state_dict': {'backbone.w': torch.zeros(1)}}, path)
    res = run_tool('tools/model_converters/export_student.py',
                   'configs/dckd/res32x4_res8x4_cifar100.py', str(path),
                   str(tmp_path / 'a.py'), str(tmp_path / 'a.pth'))
    assert res.returncode == 2 and 'architecture' in res.stderr
    assert not (tmp_path / 'a.pth').exists()


def _student_ckpt(config: str, path: str) -> str:
    """A distillation-style checkpoint (``architecture.*``) holding a
    freshly built student of ``config``."""
    cfg = Config.fromfile(config)
    student = build_model(cfg.model.architecture.to_dict())
    torch.save({'state_dict': {f'architecture.{k}': v
                               for k, v in student.state_dict().items()},
                'meta': {}}, path)
    return path


def test_export_refuses_a_checkpoint_of_another_pair(tmp_path):
    """Used to write a pair that does not load strictly, exit 0."""
    ckpt = _student_ckpt(CONFIGS['logits'], str(tmp_path / 'logits.pth'))
    (tmp_path / 'old.pth').write_bytes(b'previous export')
    res = run_tool('tools/model_converters/export_student.py',
                   CONFIGS['simkd'], ckpt, str(tmp_path / 'a.py'),
                   str(tmp_path / 'old.pth'))
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith('error: the student weights')
    assert "missing key(s), e.g. ['head.projector" in res.stderr
    assert 'nothing was written' in res.stderr
    # nothing left behind, and the file under the output name is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'logits.pth', 'old.pth'
    ]
    assert (tmp_path / 'old.pth').read_bytes() == b'previous export'


def test_export_writes_a_verified_pair(tmp_path):
    ckpt = _student_ckpt(CONFIGS['simkd'], str(tmp_path / 'simkd.pth'))
    out_cfg, out_ckpt = tmp_path / 'o' / 's.py', tmp_path / 'o' / 's.pth'
    res = run_tool('tools/model_converters/export_student.py',
                   CONFIGS['simkd'], ckpt, str(out_cfg), str(out_ckpt))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out_cfg.parent.iterdir()) == [
        's.pth', 's.py'
    ]
    verify_export(str(out_cfg), str(out_ckpt))


@pytest.mark.parametrize('fail_at', ['verify', 'config rename'])
def test_export_is_all_or_nothing(tmp_path, monkeypatch, fail_at):
    """Any failure after the first write leaves the outputs as they were:
    none where there were none, the old pair where there was one."""
    from dckd_mm.converters import export as export_mod
    ckpt = _student_ckpt(CONFIGS['simkd'], str(tmp_path / 'simkd.pth'))
    for old in (False, True):
        out = tmp_path / f'out_{old}'
        out.mkdir()
        out_cfg, out_ckpt = str(out / 's.py'), str(out / 's.pth')
        if old:
            (out / 's.py').write_bytes(b'old config')
            (out / 's.pth').write_bytes(b'old checkpoint')
        if fail_at == 'verify':

            def broken_verify(*args, **kwargs):
                raise OSError('injected')

            monkeypatch.setattr(export_mod, 'verify_export', broken_verify)
        else:
            real_replace = os.replace

            def replace(src, dst, out_cfg=out_cfg):
                if str(dst) == out_cfg:  # the checkpoint is renamed
                    raise OSError(28, 'No space left on device')
                return real_replace(src, dst)

            monkeypatch.setattr(os, 'replace', replace)
        with pytest.raises(OSError):
            export_mod.export_student(CONFIGS['simkd'], ckpt, out_cfg,
                                      out_ckpt)
        monkeypatch.undo()
        if old:
            assert sorted(p.name for p in out.iterdir()) == ['s.pth', 's.py']
            assert (out / 's.py').read_bytes() == b'old config'
            assert (out / 's.pth').read_bytes() == b'old checkpoint'
        else:
            assert list(out.iterdir()) == []


TOOL = 'tools/model_converters/export_student.py'


def _export_once(tmp_path):
    """An export to ``D/student.{py,pth}``; its bytes."""
    ckpt = _student_ckpt(CONFIGS['simkd'], str(tmp_path / 'simkd.pth'))
    out = tmp_path / 'D'
    res = run_tool(TOOL, CONFIGS['simkd'], ckpt, str(out / 'student.py'),
                   str(out / 'student.pth'))
    assert res.returncode == 0, res.stderr
    return ckpt, out, (out / 'student.pth').read_bytes()


def test_export_over_a_folder_keeps_the_old_checkpoint(tmp_path):
    """D1: the config name became a folder. The export used to rename the
    new checkpoint over the old one, fail with IsADirectoryError (exit
    1) and then remove it: the earlier student.pth was lost."""
    ckpt, out, old = _export_once(tmp_path)
    (out / 'student.py').unlink()
    (out / 'student.py').mkdir()
    again = _student_ckpt(CONFIGS['simkd'], str(tmp_path / 'again.pth'))
    res = run_tool(TOOL, CONFIGS['simkd'], again, str(out / 'student.py'),
                   str(out / 'student.pth'))
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(
        f"error: student config {out / 'student.py'} is a folder")
    assert 'Traceback' not in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ['student.pth',
                                                     'student.py']
    assert (out / 'student.pth').read_bytes() == old
    # the checkpoint name a folder: refused the same way
    res = run_tool(TOOL, CONFIGS['simkd'], again, str(out / 'new.py'),
                   str(out / 'student.py'))
    assert res.returncode == 2
    assert res.stderr.startswith(
        f"error: student checkpoint {out / 'student.py'} is a folder")
    assert sorted(p.name for p in out.iterdir()) == ['student.pth',
                                                     'student.py']


def test_export_into_a_read_only_folder_changes_nothing(tmp_path):
    """D1: the folder cannot be written (a read-only mount; root ignores
    chmod): refused with exit 2 before anything is written."""
    from tests.fixtures.filesystems import make_read_only, tmpfs
    ckpt = _student_ckpt(CONFIGS['simkd'], str(tmp_path / 'simkd.pth'))
    with tmpfs(str(tmp_path / 'D'), '64m') as out:
        cfg, pth = osp.join(out, 'student.py'), osp.join(out, 'student.pth')
        assert run_tool(TOOL, CONFIGS['simkd'], ckpt, cfg, pth).returncode \
            == 0
        old = {n: open(osp.join(out, n), 'rb').read()
               for n in os.listdir(out)}
        make_read_only(out)
        res = run_tool(TOOL, CONFIGS['simkd'], ckpt, cfg, pth)
        assert res.returncode == 2, res.stderr
        assert res.stderr.startswith(f'error: student config {cfg}: the '
                                     f'folder {out} is not writable')
        assert {n: open(osp.join(out, n), 'rb').read()
                for n in os.listdir(out)} == old


def test_export_puts_the_old_checkpoint_back_when_a_rename_fails(
        tmp_path, monkeypatch):
    """D1, the race the checks cannot see: the config name becomes a
    folder after both files are written and verified. The real rename
    fails; the checkpoint already renamed is put back."""
    from dckd_mm.converters import export as export_mod
    ckpt, out, old = _export_once(tmp_path)
    real_verify = export_mod.verify_export

    def verify_then_block(*args, **kwargs):
        real_verify(*args, **kwargs)
        (out / 'student.py').unlink()
        (out / 'student.py').mkdir()

    monkeypatch.setattr(export_mod, 'verify_export', verify_then_block)
    again = _student_ckpt(CONFIGS['simkd'], str(tmp_path / 'again.pth'))
    with pytest.raises(IsADirectoryError):
        export_mod.export_student(CONFIGS['simkd'], again,
                                  str(out / 'student.py'),
                                  str(out / 'student.pth'))
    assert sorted(p.name for p in out.iterdir()) == ['student.pth',
                                                     'student.py']
    assert (out / 'student.pth').read_bytes() == old


def test_export_on_a_full_disk_keeps_the_old_pair(tmp_path):
    """A real ENOSPC (a tmpfs just large enough for the old pair): a clear
    error, exit 2, the old pair as it was, no .partial."""
    from tests.fixtures.filesystems import tmpfs
    ckpt = _student_ckpt(CONFIGS['simkd'], str(tmp_path / 'simkd.pth'))
    size = os.path.getsize(ckpt)
    with tmpfs(str(tmp_path / 'D'), str(size + size // 2)) as out:
        cfg, pth = osp.join(out, 'student.py'), osp.join(out, 'student.pth')
        assert run_tool(TOOL, CONFIGS['simkd'], ckpt, cfg, pth).returncode \
            == 0
        old = {n: open(osp.join(out, n), 'rb').read()
               for n in os.listdir(out)}
        res = run_tool(TOOL, CONFIGS['simkd'], ckpt, cfg, pth)
        assert res.returncode == 2, res.stderr
        assert res.stderr.startswith(f'error: writing {pth} failed: No '
                                     'space left on device (')
        assert 'the disk or quota is full' in res.stderr
        assert {n: open(osp.join(out, n), 'rb').read()
                for n in os.listdir(out)} == old
