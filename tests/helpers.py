# Copyright (c) dckd_mm contributors. All rights reserved.
"""Tiny data and checkpoints in the real formats, made by the tests."""
import copy
import itertools
import os
import os.path as osp
import pickle
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config

_RUNS = itertools.count()


def run_name(prefix: str) -> str:
    """An experiment name no other run in this process has had.

    mmengine keeps one logger and one visualizer per experiment name for the
    whole process; a run that reuses a name writes its config and scalars
    into the earlier run's work dir, which pytest may already have deleted.
    ``id()`` values and ``tmp_path`` names can repeat, a counter cannot."""
    return f'{prefix}_{os.getpid()}_{next(_RUNS)}'


def write_cifar100(root: str, n_train: int = 4, n_test: int = 4,
                   seed: int = 0) -> str:
    """Write ``root/cifar-100-python/{train,test,meta}`` exactly as the
    official archive lays them out (latin1-compatible pickles of dicts with
    bytes keys decoded by ``encoding='latin1'``)."""
    rng = np.random.RandomState(seed)
    folder = osp.join(root, 'cifar-100-python')
    os.makedirs(folder, exist_ok=True)
    for split, n in (('train', n_train), ('test', n_test)):
        entry = {
            'filenames': [f'img_{i}.png' for i in range(n)],
            'batch_label': f'{split} batch',
            'fine_labels': [int(x) for x in rng.randint(0, 100, n)],
            'coarse_labels': [int(x) for x in rng.randint(0, 20, n)],
            'data': rng.randint(0, 256, (n, 3072)).astype(np.uint8),
        }
        with open(osp.join(folder, split), 'wb') as f:
            pickle.dump(entry, f, protocol=2)
    meta = {
        'fine_label_names': [f'class_{i}' for i in range(100)],
        'coarse_label_names': [f'super_{i}' for i in range(20)],
    }
    with open(osp.join(folder, 'meta'), 'wb') as f:
        pickle.dump(meta, f, protocol=2)
    return root


def build_model(cfg: dict, scope: str = 'mmpretrain') -> torch.nn.Module:
    """Build a model config dict in ``scope`` (registers dckd_mm first)."""
    import dckd_mm  # noqa: F401
    from dckd_mm.models.builder import build_model as _build
    return _build(cfg, scope)


def save_teacher_ckpt(model_cfg: dict, path: str, seed: int = 0,
                      scope: str = 'mmpretrain') -> torch.nn.Module:
    """Random-weight teacher saved as an mmengine-style checkpoint.
    ``model_cfg`` is left as it was (a ``ConfigDict`` for mmdet, which reads
    ``train_cfg.rpn`` and the like as attributes)."""
    torch.manual_seed(seed)
    teacher = build_model(copy.deepcopy(model_cfg), scope)
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, path)
    return teacher


def tiny_run_cfg(config: str, work_dir: str, data_root: str,
                 teacher_ckpt: Optional[str] = None,
                 batch_size: int = 2) -> Config:
    """A real config, shrunk to tiny data and one iteration (tests only)."""
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg.get(key)
        if dl is None:
            continue
        dl.batch_size = batch_size
        dl.num_workers = 0
        dl.persistent_workers = False
        if dl.dataset.get('type') == 'SafeCIFAR100':
            dl.dataset.data_root = data_root
            dl.dataset.verify_md5 = False
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.log_level = 'WARNING'
    if teacher_ckpt is not None and 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = teacher_ckpt
    return cfg


class ToolResult:

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_tool(path: str, *args: str) -> ToolResult:
    """Run ``tools/<path>`` in this process (as ``__main__``) and capture
    its exit status and output; much faster than a subprocess."""
    import contextlib
    import io
    import runpy
    import sys
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [path, *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(path, run_name='__main__')
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return ToolResult(code, out.getvalue(), err.getvalue())


_INTERPRETER_PROBE = '''
import torch
import triton
import triton.language as tl


@triton.jit
def add_one(x_ptr):
    tl.store(x_ptr, tl.load(x_ptr) + 1)


x = torch.zeros(1)
add_one[(1, )](x)
assert x.item() == 1.0
'''


def triton_interpreter_unavailable() -> Optional[str]:
    """Why Triton's interpreter cannot run a kernel on CPU tensors here
    (``None`` when it can). Triton 2.1 (beside torch 2.1) has no CPU
    interpreter for torch tensors; the kernel's CPU tests need one."""
    global _INTERPRETER
    if _INTERPRETER is None:
        import subprocess
        import sys
        try:
            import triton  # noqa: F401
        except ImportError:
            _INTERPRETER = ('triton is not installed',)
            return _INTERPRETER[0]
        import tempfile
        env = dict(os.environ, TRITON_INTERPRET='1')
        # triton.jit reads the kernel's source: it must be in a file
        with tempfile.TemporaryDirectory() as tmp:
            probe = osp.join(tmp, 'probe.py')
            with open(probe, 'w') as f:
                f.write(_INTERPRETER_PROBE)
            proc = subprocess.run([sys.executable, probe], env=env,
                                  capture_output=True, text=True,
                                  timeout=300)
        lines = proc.stderr.strip().splitlines()
        _INTERPRETER = (None if proc.returncode == 0 else
                        'Triton\'s interpreter cannot run a kernel on CPU '
                        f'tensors here ({lines[-1] if lines else "failed"})',)
    return _INTERPRETER[0]


_INTERPRETER: Optional[tuple] = None


def free_port() -> int:
    """A TCP port that is free on this machine now (the OS picks it), for
    torchrun and gloo rendezvous. Not drawn from ``random``: the tests seed
    it, and two test runs at once (the two lanes of ``make test``) would
    draw the same port."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
