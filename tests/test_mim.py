# Copyright (c) dckd_mm contributors. All rights reserved.
"""OpenMMLab's ``mim`` on an installed, non-editable dckd_mm.

mim finds a package's configs, ``tools/train.py``, ``tools/test.py`` and
``model-index.yml`` in ``<package>/.mim/``, which setup.py fills (links in
an editable install, copies in a wheel). The package is built from a copy
of this source tree and installed with pip into a temporary folder that
comes first on ``PYTHONPATH``, so the installed copy, not this checkout,
is what mim and the tools run. Each mim command runs in a subprocess, from
a folder where no config path exists, so that mim has to find the config in
the package. The tests of setup.py's own parts need no openmim."""
import glob
import importlib.util
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List, NamedTuple, Set

import pytest
import yaml

from dckd_mm.compat.safe_loading import safe_load

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'resnet8_1xb64_digits.py'  # configs/demo/, unique in the package
# what a wheel is built from
SOURCES = ('setup.py', 'setup.cfg', 'MANIFEST.in', 'model-index.yml',
           'requirements', 'dckd_mm', 'configs', 'tools')
TEST_IMAGES = 360  # scikit-learn digits' test split (DigitsDataset)


def _load_setup() -> ModuleType:
    """setup.py as a module (its ``setup()`` call runs only as a script)."""
    spec = importlib.util.spec_from_file_location(
        '_dckd_mm_setup', osp.join(ROOT, 'setup.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copy_sources(dst: str) -> str:
    """The files a wheel is built from, copied to ``dst`` (builds write
    ``build/``, ``*.egg-info`` and ``dckd_mm/.mim`` into their tree)."""
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim',
                                    '*.egg-info')
    os.makedirs(dst)
    for name in SOURCES:
        src = osp.join(ROOT, name)
        if osp.isdir(src):
            shutil.copytree(src, osp.join(dst, name), ignore=ignore)
        else:
            shutil.copy(src, dst)
    return dst


def _model_names() -> Set[str]:
    """Every model name of the metafiles that model-index.yml imports."""
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)['Import']
    names = set()
    for path in index:
        with open(osp.join(ROOT, path)) as f:
            names |= {m['Name'] for m in yaml.safe_load(f)['Models']}
    return names


# -- setup.py's .mim folder, without openmim --
def test_mim_mode_follows_the_setup_command() -> None:
    setup = _load_setup()
    assert setup.mim_mode(['setup.py', 'editable_wheel', '--dist-info-dir',
                           'x']) == 'symlink'
    assert setup.mim_mode(['setup.py', 'develop']) == 'symlink'
    assert setup.mim_mode(['setup.py', 'bdist_wheel', '--dist-dir',
                           'x']) == 'copy'
    assert setup.mim_mode(['setup.py', 'sdist']) == 'copy'
    # metadata only: .mim is left as it is
    assert setup.mim_mode(['setup.py', 'dist_info', '--output-dir',
                           'x']) == ''
    assert setup.mim_mode(['setup.py', 'egg_info']) == ''


def test_add_mim_extension_links_then_copies(tmp_path: Path) -> None:
    setup = _load_setup()
    repo = _copy_sources(str(tmp_path / 'src'))
    mim = osp.join(repo, 'dckd_mm', '.mim')
    setup.add_mim_extension('', repo)
    assert not osp.exists(mim)

    setup.add_mim_extension('symlink', repo)
    for name in setup.MIM_FILES:
        path = osp.join(mim, name)
        assert osp.islink(path), name
        # relative, so that the checkout can move
        assert not osp.isabs(os.readlink(path)), os.readlink(path)
        assert osp.samefile(path, osp.join(repo, name))

    # a normal build after an editable install replaces the links
    setup.add_mim_extension('copy', repo)
    for name in setup.MIM_FILES:
        path = osp.join(mim, name)
        assert not osp.islink(path) and osp.exists(path), name
        assert not osp.samefile(path, osp.join(repo, name))
    with open(osp.join(mim, 'model-index.yml')) as f, \
            open(osp.join(repo, 'model-index.yml')) as g:
        assert f.read() == g.read()
    copied = sorted(
        osp.relpath(p, osp.join(mim, 'configs')) for p in glob.glob(
            osp.join(mim, 'configs', '**', '*.py'), recursive=True))
    original = sorted(
        osp.relpath(p, osp.join(repo, 'configs')) for p in glob.glob(
            osp.join(repo, 'configs', '**', '*.py'), recursive=True))
    assert copied == original and len(copied) > 100

    # and back: the copies give way to links again
    setup.add_mim_extension('symlink', repo)
    assert all(osp.islink(osp.join(mim, n)) for n in setup.MIM_FILES)
    with pytest.raises(ValueError, match='mode'):
        setup.add_mim_extension('hardlink', repo)


def test_manifest_ships_every_config_and_tool() -> None:
    """Each file of configs/ and tools/ matches a MANIFEST.in pattern of
    its .mim copy (a file type missing there would silently not ship)."""
    patterns: Dict[str, List[str]] = {}
    with open(osp.join(ROOT, 'MANIFEST.in')) as f:
        for line in f:
            words = line.split()
            if words[:1] == ['recursive-include']:
                patterns[words[1]] = words[2:]
    for folder in ('configs', 'tools'):
        globs = patterns[f'dckd_mm/.mim/{folder}']
        for dirpath, dirnames, files in os.walk(osp.join(ROOT, folder)):
            dirnames[:] = [d for d in dirnames if d != '__pycache__']
            for name in files:
                path = osp.relpath(osp.join(dirpath, name), ROOT)
                assert any(re.fullmatch(g.replace('.', r'\.').replace(
                    '*', '.*'), name) for g in globs), (path, globs)


# -- mim on the installed package --
class Installed(NamedTuple):
    """A non-editable install of dckd_mm and how to run it."""
    site: str  # the folder pip installed into (real path)
    env: Dict[str, str]  # the environment with ``site`` first
    cwd: str  # an empty folder to run mim in
    base: str  # room for work dirs


@pytest.fixture(scope='module')
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """dckd_mm installed from a wheel build into a temporary site folder,
    and the environment that puts it first."""
    pytest.importorskip('mim', reason='openmim is not installed')
    base = tmp_path_factory.mktemp('mim')
    src = _copy_sources(str(base / 'src'))
    site = osp.realpath(base / 'site')  # as mim and the tools print it
    res = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps',
         '--no-build-isolation', '--no-index', '--disable-pip-version-check',
         '--no-compile', '-q', '--target', site, src],
        capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    home = base / 'home'  # mim makes ~/.cache/mim when imported
    home.mkdir()
    env = dict(os.environ, PYTHONPATH=site, HOME=str(home))
    env.pop('PYTHONHOME', None)
    work = base / 'cwd'  # holds no configs/: mim must search the package
    work.mkdir()
    return Installed(site, env, str(work), str(base))


def _mim(installed: Installed, *args: str) -> str:
    """``python -m mim ARGS`` with the installed package first; its
    output (the command must succeed)."""
    res = subprocess.run(
        [sys.executable, '-m', 'mim', *args], cwd=installed.cwd,
        env=installed.env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def test_installed_copy_is_what_runs(installed: Installed) -> None:
    """The copy in the site folder wins over this checkout's (editable)
    dckd_mm, and carries real files, not links, in .mim."""
    res = subprocess.run(
        [sys.executable, '-c', 'import importlib.util as u; '
         'print(u.find_spec("dckd_mm").origin)'],
        cwd=installed.cwd, env=installed.env, capture_output=True,
        text=True)
    assert res.returncode == 0, res.stderr
    origin = osp.realpath(res.stdout.strip())
    assert origin == osp.join(installed.site, 'dckd_mm', '__init__.py')
    mim = osp.join(installed.site, 'dckd_mm', '.mim')
    for name in ('configs', 'tools', 'model-index.yml'):
        assert osp.exists(osp.join(mim, name)), name
        assert not osp.islink(osp.join(mim, name)), name
    for tool in ('train.py', 'test.py'):
        assert osp.isfile(osp.join(mim, 'tools', tool))


def test_mim_search_lists_the_models(installed: Installed) -> None:
    out = _mim(installed, 'search', 'dckd_mm')
    listed = set(re.findall(r'^config id: (\S+)$', out, flags=re.M))
    names = _model_names()
    assert 'dckd_resnet32x4_resnet8x4_1xb64_cifar100' in names
    assert listed == names, sorted(listed ^ names)
    # each entry points at its config, relative to the package's .mim
    assert re.search(r'^config\s+configs/dckd/'
                     r'dckd_resnet32x4_resnet8x4_1xb64_cifar100\.py$',
                     out, flags=re.M), out[:2000]


def test_mim_train_then_test(installed: Installed) -> None:
    work_dir = osp.join(installed.base, 'work')
    out = _mim(installed, 'train', 'dckd_mm', CONFIG, '--work-dir',
               work_dir, '--cfg-options', 'train_cfg.max_epochs=1')
    mim = osp.join(installed.site, 'dckd_mm', '.mim')
    # mim found the config and the training script in the installed copy
    config = osp.join(mim, 'configs', 'demo', CONFIG)
    assert f'will use {config} instead' in out, out[-3000:]
    assert f'{osp.join(mim, "tools", "train.py")} {config}' in out
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt), os.listdir(work_dir)
    state = safe_load(ckpt)
    assert state['meta']['epoch'] == 1
    # 200 labelled images, batch 64
    assert state['meta']['iter'] == 4
    # resnet8's classifier over digits' 10 classes
    assert tuple(state['state_dict']['head.fc.weight'].shape) == (10, 64)

    out = _mim(installed, 'test', 'dckd_mm', CONFIG, '--checkpoint', ckpt,
               '--work-dir', osp.join(installed.base, 'test'))
    assert f'{osp.join(mim, "tools", "test.py")} {config} {ckpt}' in out
    found = re.findall(r"\{'accuracy/top1': ([0-9.]+)\}", out)
    assert len(found) == 1, out[-3000:]
    top1 = float(found[0])
    assert 0.0 <= top1 <= 100.0
    # a whole number of the test split's 360 images was right
    correct = top1 * TEST_IMAGES / 100
    assert abs(correct - round(correct)) < 1e-2, top1
