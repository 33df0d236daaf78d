# Copyright (c) dckd_mm contributors. All rights reserved.
"""model-index.yml indexes every method folder's metafile; every metafile
names configs that exist; every config of a method folder is listed."""
import glob
import os.path as osp

import yaml

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
METHODS = ('dckd', 'kd', 'dkd', 'simkd', 'mixing')


def _load(path: str) -> dict:
    with open(osp.join(ROOT, path)) as f:
        return yaml.safe_load(f)


def test_every_metafile_is_indexed_and_exists() -> None:
    index = _load('model-index.yml')['Import']
    assert sorted(index) == sorted(f'configs/{m}/metafile.yml'
                                   for m in METHODS)
    on_disk = sorted(osp.relpath(p, ROOT) for p in glob.glob(
        osp.join(ROOT, 'configs', '*', 'metafile.yml')))
    assert on_disk == sorted(index)


def test_metafiles_list_exactly_the_configs() -> None:
    for method in METHODS:
        meta = _load(f'configs/{method}/metafile.yml')
        (coll, ) = meta['Collections']
        assert osp.isfile(osp.join(ROOT, coll['README']))
        assert coll['Paper']['URL'].startswith('https://')
        listed = {m['Config'] for m in meta['Models']}
        for m in meta['Models']:
            assert osp.isfile(osp.join(ROOT, m['Config'])), m['Config']
            assert m['In Collection'] == coll['Name']
            assert m['Name'] == osp.basename(m['Config'])[:-3]
            # nothing here was trained to completion: no metric is claimed
            assert m['Results'][0]['Metrics'] == {}
            assert m['Metadata']['Measured Here'].startswith('not run')
        configs = {osp.relpath(p, ROOT) for p in glob.glob(
            osp.join(ROOT, 'configs', method, '*.py'))}
        configs.discard('configs/dckd/res32x4_res8x4_cifar100.py')  # alias
        assert listed == configs


def test_model_names_are_unique_and_paths_ship_with_mim() -> None:
    """mim search lists models by name (a name used twice shows once), and
    reads the index from the package's .mim copy, which holds configs/ and
    model-index.yml only: every path must stay inside configs/."""
    names = []
    paths = list(_load('model-index.yml')['Import'])
    for method in METHODS:
        meta = _load(f'configs/{method}/metafile.yml')
        paths += [c['README'] for c in meta['Collections']]
        for m in meta['Models']:
            names.append(m['Name'])
            paths.append(m['Config'])
    assert len(names) == len(set(names)), sorted(
        n for n in set(names) if names.count(n) > 1)
    for path in paths:
        assert path.startswith('configs/') and '..' not in path.split('/'), \
            path
        assert osp.normpath(path) == path, path
