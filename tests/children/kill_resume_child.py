# Copyright (c) dckd_mm contributors. All rights reserved.
"""Child process for tests/compat/test_atomic_checkpoints.py: trains a toy
mmengine model; can SIGKILL itself mid-epoch, mid-checkpoint-write or while
deleting an old checkpoint. Writes the epoch it started (or resumed) from
to ``start_epoch.txt`` and the final weights to ``final_weights.pt``."""
import argparse
import builtins
import os
import signal

import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import dckd_mm  # noqa: F401
from dckd_mm.compat import atomic_checkpoints


class Toy(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16),
                                 nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x, y, mode='tensor'):
        out = self.net(x)
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(out, y))
        return out


class Data(Dataset):

    def __len__(self) -> int:
        return 32

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        return dict(x=torch.randn(6, generator=g), y=torch.tensor(i % 3))


class KillAt(Hook):

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


class StartEpoch(Hook):
    """Records the epoch training starts from (after any resume)."""

    def before_train(self, runner) -> None:
        with open(os.path.join(runner.work_dir, 'start_epoch.txt'),
                  'w') as f:
            f.write(str(runner.epoch))


class RisingScore(BaseMetric):
    """``score`` = how many evaluations ran: every epoch is a new best."""

    calls = 0

    def process(self, data_batch, data_samples) -> None:
        self.results.append(1)

    def compute_metrics(self, results: list) -> dict:
        RisingScore.calls += 1
        return dict(score=float(RisingScore.calls))


def kill_while_removing(name: str) -> None:
    """``os.remove`` of ``name`` kills the process before deleting it."""
    real_remove = os.remove

    def patched(path, *args, **kwargs):
        if os.path.basename(str(path)) == name:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_remove(path, *args, **kwargs)

    os.remove = patched


def kill_while_writing(name: str) -> None:
    """Any open(..., 'wb') of ``name`` (or ``name.partial``) writes half
    of its data, then the process is killed."""
    real_open = builtins.open

    class HalfWriter:

        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            self.f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def __getattr__(self, attr):
            return getattr(self.f, attr)

    def patched(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if 'w' in mode and os.path.basename(str(file)) in (
                name, name + '.partial'):
            return HalfWriter(f)
        return f

    builtins.open = patched


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('work_dir')
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--kill-at-iter', type=int)
    parser.add_argument('--kill-writing')
    parser.add_argument('--kill-removing')
    parser.add_argument('--max-keep-ckpts', type=int, default=-1)
    parser.add_argument('--with-val', action='store_true',
                        help='validate every epoch, keep best_score_*.pth')
    parser.add_argument('--without-fix', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the model is built before the Runner seeds
    if args.without_fix:
        atomic_checkpoints.uninstall()
    if args.kill_writing:
        kill_while_writing(args.kill_writing)
    if args.kill_removing:
        kill_while_removing(args.kill_removing)
    hooks = [StartEpoch()]
    if args.kill_at_iter:
        hooks.append(KillAt(args.kill_at_iter))
    val = {}
    if args.with_val:
        val = dict(
            val_dataloader=dict(
                dataset=Data(),
                sampler=dict(type='DefaultSampler', shuffle=False),
                batch_size=8,
                collate_fn=dict(type='default_collate')),
            val_cfg=dict(),
            val_evaluator=Evaluator([RisingScore()]))
    runner = Runner(
        model=Toy(),
        work_dir=args.work_dir,
        train_dataloader=dict(
            dataset=Data(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=8,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1,
                                          momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[2]),
        train_cfg=dict(by_epoch=True, max_epochs=args.epochs),
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', interval=1,
            max_keep_ckpts=args.max_keep_ckpts,
            save_best='score' if args.with_val else None, rule='greater')),
        custom_hooks=hooks,
        **val,
        resume=args.resume,
        randomness=dict(seed=0, deterministic=True),
        log_level='WARNING')
    runner.train()
    torch.save({k: v.clone() for k, v in runner.model.state_dict().items()},
               os.path.join(args.work_dir, 'final_weights.pt'))


if __name__ == '__main__':
    main()
