# Copyright (c) dckd_mm contributors. All rights reserved.
"""One profiled training step: peak memory and the share of DCKD."""
import time
from typing import Any, Dict, Optional

import torch

__all__ = ['profile_step']


def profile_step(runner: Any) -> Dict[str, Optional[float]]:
    """Profile one extra training step of a trained runner.

    Args:
        runner (Runner): a runner whose model and optimizer are built (it
            has trained).

    Returns:
        dict: ``peak_mem_mb``, the peak tensor memory of the step (CUDA:
        ``max_memory_allocated``; CPU: the high-water mark of the
        profiler's allocation events), and ``dckd_share``, the share of the
        step spent in ``DCKDLoss`` (forward, labelled ``dckd_loss``, plus
        the backward of its autograd function), ``None`` without DCKD.
    """
    from torch.profiler import ProfilerActivity, profile
    batch = next(iter(runner.train_dataloader))
    model, optim = runner.model, runner.optim_wrapper
    model.train()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts, profile_memory=True) as prof:
        start = time.perf_counter()
        model.train_step(batch, optim_wrapper=optim)
        if cuda:
            torch.cuda.synchronize()
        step = time.perf_counter() - start
    if cuda:
        peak = torch.cuda.max_memory_allocated()
    else:
        # self (not inclusive) allocations, else nested ops count twice
        events = sorted((e.time_range.start, e.self_cpu_memory_usage)
                        for e in prof.events() if e.self_cpu_memory_usage)
        level = peak = 0
        for _, delta in events:
            level += delta
            peak = max(peak, level)
    dckd_us = sum(
        e.cpu_time_total for e in prof.key_averages()
        if e.key == 'dckd_loss' or e.key.endswith('_DCKDPartsBackward'))
    return dict(peak_mem_mb=peak / 2**20,
                dckd_share=dckd_us / 1e6 / step if dckd_us else None)
