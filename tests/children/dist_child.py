# Copyright (c) dckd_mm contributors. All rights reserved.
"""Child for tests/compat/test_cpu_distributed.py: one-process gloo group
through mmengine's init_dist and DDP wrapper, with or without the fix."""
import os
import sys

import torch
from mmengine.dist import init_dist
from mmengine.model import MMDistributedDataParallel

import dckd_mm  # noqa: F401
from dckd_mm.compat import cpu_distributed

if '--without-fix' in sys.argv:
    cpu_distributed.uninstall()
os.environ.update(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                  MASTER_ADDR='127.0.0.1', MASTER_PORT=sys.argv[1])
init_dist('pytorch', backend='gloo')
model = MMDistributedDataParallel(module=torch.nn.Linear(3, 2),
                                  device_ids=[0], broadcast_buffers=False)
model(torch.randn(4, 3)).sum().backward()
print('ok')
