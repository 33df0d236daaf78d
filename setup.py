# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm: Decoupled Classifier Knowledge Distillation for mmrazor.

``install_requires`` holds the ranges dckd_mm declares: the OpenMMLab
releases it is written for (mmengine 0.10, mmpretrain 1.2, mmrazor 1.0) and
the PyTorch, torchvision and numpy versions those accept. The one tested
set of exact versions is ``requirements/lock.txt``, installed by
``make test`` / ``make demo``, which also build mmcv's ops once (see
docs/platform.md).

mmcv is not in ``install_requires``: as in mmpretrain, mmdet and mmrazor,
it is listed in ``requirements/mminstall.txt`` (the ``mim`` extra), so that
``pip install .`` never builds or replaces an mmcv or mmcv-lite that is
already installed. Install mmcv yourself (or with ``mim install mmcv``).

Like mmrazor's and mmpretrain's, the package carries ``configs/``,
``tools/`` and ``model-index.yml`` in ``dckd_mm/.mim/`` for OpenMMLab's
``mim`` (``mim train dckd_mm CONFIG``, ``mim test``, ``mim search``):
symbolic links to the originals in an editable install, copies in a
wheel or source distribution.
"""
import os
import os.path as osp
import shutil
import sys
import warnings
from setuptools import find_packages, setup
from typing import List

HERE = osp.dirname(osp.abspath(__file__))
# what mim looks for in <package>/.mim/
MIM_FILES = ('configs', 'tools', 'model-index.yml')
# setup.py commands that build an installed or distributed copy
COPY_COMMANDS = ('bdist_wheel', 'sdist', 'build', 'build_py', 'install')
# setup.py commands of an editable install (PEP 660, and the legacy one)
LINK_COMMANDS = ('editable_wheel', 'develop')


def read_requirements(name: str) -> List[str]:
    """Requirement lines of ``requirements/<name>``.

    Args:
        name (str): file name under ``requirements/``.

    Returns:
        list[str]: the lines without comments and blank lines.
    """
    with open(osp.join(HERE, 'requirements', name)) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


def read_version() -> str:
    """The version in ``dckd_mm/version.py``, without importing dckd_mm.

    Returns:
        str: ``__version__``.
    """
    scope: dict = {}
    with open(osp.join(HERE, 'dckd_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def mim_mode(argv: List[str]) -> str:
    """How ``dckd_mm/.mim`` is filled for the setup.py command in ``argv``.

    Args:
        argv (list[str]): ``sys.argv`` of this setup.py run.

    Returns:
        str: ``'symlink'`` for an editable install, ``'copy'`` for a build
        that is installed or distributed, ``''`` for any other command
        (metadata only, clean, ...), which leaves ``.mim`` alone.
    """
    if any(cmd in argv for cmd in LINK_COMMANDS):
        return 'symlink'
    if any(cmd in argv for cmd in COPY_COMMANDS):
        return 'copy'
    return ''


def add_mim_extension(mode: str, repo: str = HERE) -> None:
    """Put ``configs``, ``tools`` and ``model-index.yml`` in
    ``<repo>/dckd_mm/.mim/``, where mim finds a package's configs, training
    and test scripts and model index.

    Args:
        mode (str): ``'symlink'`` (relative links to the originals, for an
            editable install; a copy where links cannot be made),
            ``'copy'``, or ``''`` to do nothing.
        repo (str): the source tree. Defaults to this file's folder.
    """
    if not mode:
        return
    if mode not in ('symlink', 'copy'):
        raise ValueError(f"mode must be 'symlink', 'copy' or '', got "
                         f'{mode!r}')
    mim_path = osp.join(repo, 'dckd_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(repo, name)
        dst = osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        # an earlier install's link or copy
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_path), dst)
                continue
            except OSError as err:  # e.g. Windows without the privilege
                warnings.warn(f'could not link {dst} to {src} ({err}); '
                              'copying it instead')
        if osp.isdir(src):
            shutil.copytree(
                src, dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension(mim_mode(sys.argv))
    setup(
        name='dckd_mm',
        version=read_version(),
        description='Decoupled Classifier Knowledge Distillation for mmrazor',
        packages=find_packages(include=['dckd_mm', 'dckd_mm.*']),
        # dckd_mm/.mim (MANIFEST.in)
        include_package_data=True,
        python_requires='>=3.9',
        install_requires=[
            'torch>=2.1,<2.15',
            'torchvision>=0.16,<0.30',
            'mmengine>=0.10.7,<0.11',
            'mmpretrain>=1.2.0,<1.3',
            'mmrazor>=1.0.0,<1.1',
            'joblib>=1.3',  # imported by mmrazor 1.0.0, not declared by it
            'numpy>=1.22,<2',
        ],
        extras_require={
            # mmcv (see the docstring above); what `mim install` adds
            'mim': read_requirements('mminstall.txt'),
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
