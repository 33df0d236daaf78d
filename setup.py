# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm: Decoupled Classifier Knowledge Distillation for mmrazor.

Install with ``make test`` / ``make demo`` (they build mmcv's ops once);
``pip install -e .`` alone expects the stack of requirements/ installed.
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
    install_requires=(read_requirements('torch.txt') + ['mmcv==2.1.0'] +
                      read_requirements('runtime.txt')),
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache License 2.0',
    zip_safe=False,
)
