# Copyright (c) dckd_mm contributors. All rights reserved.
"""The compat registry: feature tests decide, patches undo, status tells."""
import subprocess
import sys
import types

import mmengine.runner.checkpoint as ckpt
from mmengine.hooks import CheckpointHook
from mmengine.runner.checkpoint import CheckpointLoader

from dckd_mm import compat
from dckd_mm.compat import registry
from dckd_mm.compat.registry import Fix, Patches


def test_patches_save_the_original_once_and_restore_it():
    owner = types.SimpleNamespace(f='original')
    patches = Patches()
    patches.set(owner, 'f', 'first')
    patches.set(owner, 'f', 'second')
    assert owner.f == 'second'
    assert patches.original(owner, 'f') == 'original'
    assert patches.active
    patches.restore()
    assert owner.f == 'original' and not patches.active
    patches.restore()  # idempotent
    assert owner.f == 'original'


def _fix(name, reason, calls):
    return Fix(name=name, summary=f'{name} summary',
               needed=lambda: reason,
               install=lambda: calls.append(('install', name)),
               uninstall=lambda: calls.append(('uninstall', name)))


def test_apply_installs_only_what_the_feature_test_asks_for():
    calls = []
    fixes = (_fix('probe_needed', 'the host fails without it', calls),
             _fix('probe_not_needed', None, calls))
    try:
        rows = registry.apply(fixes)
        assert calls == [('install', 'probe_needed')]
        assert [(r.name, r.active) for r in rows] == [
            ('probe_needed', True), ('probe_not_needed', False)]
        assert rows[0].reason == 'the host fails without it'
        assert 'not needed' in rows[1].reason
        registry.apply(fixes)  # decided once: not probed or installed again
        assert calls == [('install', 'probe_needed')]
        text = registry.format_status(rows)
        assert 'ACTIVE   probe_needed' in text
        assert 'inactive probe_not_needed' in text
    finally:
        registry.uninstall(fixes)
    assert {r.name for r in registry.status()}.isdisjoint(
        {'probe_needed', 'probe_not_needed'})


def test_every_fix_is_decided_with_a_reason():
    rows = {r.name: r for r in compat.status()}
    assert set(rows) == {f.name for f in compat.FIXES}
    for row in rows.values():
        assert row.reason
    # on this CPU-only host each of them is needed (each has its own
    # "fails without it" test in this folder)
    assert all(r.active for r in rows.values()), compat.format_status(
        list(rows.values()))


def test_uninstall_gives_mmengine_its_own_code_back():
    patched_save, patched_find = ckpt.save_checkpoint, \
        ckpt.find_latest_checkpoint
    patched_step = CheckpointHook._save_checkpoint_with_step
    patched_loader = CheckpointLoader._schemes['']
    compat.uninstall()
    try:
        assert ckpt.save_checkpoint is not patched_save
        assert ckpt.find_latest_checkpoint is not patched_find
        assert CheckpointHook._save_checkpoint_with_step is not patched_step
        assert CheckpointLoader._schemes[''] is not patched_loader
        assert CheckpointLoader._schemes[''].__module__ == \
            'mmengine.runner.checkpoint'
        assert compat.status() == []
    finally:
        compat.apply()
    assert ckpt.save_checkpoint is patched_save
    assert CheckpointLoader._schemes[''] is patched_loader


def test_python_m_dckd_mm_compat_prints_the_decisions():
    proc = subprocess.run([sys.executable, '-m', 'dckd_mm.compat'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert 'torch ' in out and 'mmcv ' in out
    for fix in compat.FIXES:
        assert f' {fix.name}: ' in out
    assert out.count('why: ') == len(compat.FIXES)
