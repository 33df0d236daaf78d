# Copyright (c) dckd_mm contributors. All rights reserved.
"""``safe_load`` raises only its documented errors, whatever the file holds.

Bounded fuzz over generated files (fixed seed, about 400 files, a few
seconds): zip and legacy checkpoints truncated at many points or with
flipped bytes, zero bytes, text, random bytes, and hostile zip, legacy and
raw pickles (whole or truncated). Every outcome is a loaded object or one
of ``FileNotFoundError``, ``CorruptCheckpointError``,
``UntrustedCheckpointError``; a hostile file never runs and, when whole, is
reported as untrusted.
"""
import builtins
import io
import os
import pickle
import random

import pytest
import torch

import dckd_mm  # noqa: F401  (allow-lists mmengine's types)
from dckd_mm.compat import (CorruptCheckpointError, UntrustedCheckpointError,
                            safe_load)

DOCUMENTED = (FileNotFoundError, CorruptCheckpointError,
              UntrustedCheckpointError)


class _Opens:
    """Pickles as ``builtins.open(path, 'w')``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (builtins.open, (self.path, 'w'))


def _checkpoint() -> dict:
    import numpy as np
    from mmengine.logging import HistoryBuffer
    hist = HistoryBuffer()
    hist.update(1.5)
    return {
        'meta': {'epoch': 2, 'iter': 8, 'seed': 0},
        'state_dict': {'w': torch.arange(64.0).reshape(8, 8),
                       'b': torch.zeros(8)},
        'message_hub': {'loss': hist, 'arr': np.arange(3)},
    }


def _saved(obj, zip_format: bool) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=zip_format)
    return buf.getvalue()


def _hostile(marker: str) -> dict:
    return {
        'zip': _saved({'x': _Opens(marker)}, True),
        'legacy': _saved({'x': _Opens(marker)}, False),
        'raw_p2': pickle.dumps({'x': _Opens(marker)}, protocol=2),
        'raw_p5': pickle.dumps({'x': _Opens(marker)}, protocol=5),
    }


def _files(tmp_path, marker: str) -> dict:
    rng = random.Random(0)
    files = {'zero': b'', 'text': b'epoch 3\nloss 0.5\n' * 8,
             'one_byte': b'\x80'}
    for fmt in (True, False):
        data = _saved(_checkpoint(), fmt)
        tag = 'zip' if fmt else 'legacy'
        cuts = sorted({rng.randrange(len(data)) for _ in range(100)} |
                      {1, 2, 5, 10, 50, len(data) - 1})
        for cut in cuts:
            files[f'{tag}_cut{cut}'] = data[:cut]
        for i in range(60):
            flipped = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                flipped[rng.randrange(len(data))] = rng.randrange(256)
            files[f'{tag}_flip{i}'] = bytes(flipped)
    for i in range(40):
        files[f'random{i}'] = bytes(
            rng.randrange(256) for _ in range(rng.choice([1, 7, 64, 999])))
    for name, data in _hostile(marker).items():
        for cut in (len(data), len(data) // 2, len(data) - 1):
            files[f'hostile_{name}_{cut}'] = data[:cut]
    return files


def test_only_documented_errors(tmp_path):
    marker = str(tmp_path / 'pwned')
    outcomes = {}
    for name, data in _files(tmp_path, marker).items():
        path = tmp_path / f'{name}.pth'
        path.write_bytes(data)
        try:
            safe_load(str(path))
            outcomes[name] = 'loaded'
        except DOCUMENTED as err:
            outcomes[name] = type(err).__name__
        except Exception as err:  # the bug this test is about
            pytest.fail(f'{name}: {type(err).__name__}: {err}')
        path.unlink()
    assert len(outcomes) > 380
    assert not os.path.exists(marker)
    for name in ('zero', 'text', 'one_byte'):
        assert outcomes[name] == 'CorruptCheckpointError', name
    for kind in ('zip', 'legacy', 'raw_p2', 'raw_p5'):
        whole = [v for k, v in outcomes.items()
                 if k.startswith(f'hostile_{kind}_')]
        assert whole[0] == 'UntrustedCheckpointError', kind
    # random bytes are corrupt, not "untrusted"
    assert all(v == 'CorruptCheckpointError' for k, v in outcomes.items()
               if k.startswith('random'))


@pytest.mark.parametrize('kind', ['zip', 'legacy', 'raw_p2', 'raw_p5'])
def test_hostile_pickle_is_untrusted_in_every_format(tmp_path, kind):
    marker = str(tmp_path / 'pwned')
    path = tmp_path / 'evil.pth'
    path.write_bytes(_hostile(marker)[kind])
    with pytest.raises(UntrustedCheckpointError, match='builtins.open|'
                       'io.open'):
        safe_load(str(path))
    assert not os.path.exists(marker)


def test_truncated_legacy_and_text_are_corrupt(tmp_path):
    data = _saved(_checkpoint(), False)
    for name, content in (('empty', b''), ('legacy', data[:len(data) // 3]),
                          ('text', b'not a checkpoint\n')):
        path = tmp_path / f'{name}.pth'
        path.write_bytes(content)
        with pytest.raises(CorruptCheckpointError, match='Re-download'):
            safe_load(str(path))
