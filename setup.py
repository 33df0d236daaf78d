# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm: Decoupled Classifier Knowledge Distillation for mmrazor.

Install with ``make test`` / ``make demo``: they install the exact tested
set of ``requirements/lock.txt`` and build mmcv's ops once. The ranges
below are the versions the package is tested with (mmcv 2.1.0 has no
wheel for current torch on PyPI; see docs/platform.md).
"""
import os.path as osp
from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


def read_version() -> str:
    scope: dict = {}
    with open(osp.join('dckd_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='dckd_mm',
    version=read_version(),
    description='Decoupled Classifier Knowledge Distillation for mmrazor',
    packages=find_packages(include=['dckd_mm', 'dckd_mm.*']),
    python_requires='>=3.11,<3.12',
    install_requires=[
        'torch>=2.14,<2.15',
        'torchvision>=0.29,<0.30',
        'mmengine>=0.10.7,<0.11',
        'mmcv>=2.1.0,<2.2.0',
        'mmpretrain>=1.2.0,<1.3',
        'mmrazor>=1.0.0,<1.1',
        'joblib>=1.3',  # imported by mmrazor 1.0.0, not declared by it
        'numpy>=1.26,<2',
    ],
    extras_require={
        # COCO detection (needs mmcv's compiled ops)
        'detection': ['mmdet>=3.3.0,<3.4', 'pycocotools>=2.0'],
        # the embedded benchmarks (make demo, compare.py)
        'demo': ['scikit-learn>=1.3', 'matplotlib>=3.7', 'PyYAML>=6'],
        # t-SNE, similarity and gradient plots, the Triton kernel's tests
        'analysis': ['scikit-learn>=1.3', 'matplotlib>=3.7'],
        'tests': read_requirements('tests.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
