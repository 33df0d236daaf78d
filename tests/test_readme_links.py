# Copyright (c) dckd_mm contributors. All rights reserved.
"""Every link and every repository path written in the Markdown files and
docstrings points at a file that exists, and no file points at documents
outside the repository."""
import glob
import os.path as osp
import re
import subprocess

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MARKDOWN = [osp.join(ROOT, 'README.md')] + sorted(
    glob.glob(osp.join(ROOT, 'configs', '**', '*.md'), recursive=True) +
    glob.glob(osp.join(ROOT, 'docs', '*.md')))
LINK = re.compile(r'\]\(([^)\s]+)\)')
# `path` in Markdown, ``path`` in docstrings, starting at a top-level
# folder of the repository
TOP = ('dckd_mm/', 'tools/', 'configs/', 'tests/', 'docs/',
       'requirements/', '.ci/')
TICKED = re.compile(r'`{1,2}((?:%s)[^`\s]*)`{1,2}' %
                    '|'.join(re.escape(t) for t in TOP))


def _tracked(*patterns):
    out = subprocess.run(['git', 'ls-files', *patterns], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return [osp.join(ROOT, p) for p in out.stdout.split()]


@pytest.mark.parametrize('doc', MARKDOWN, ids=lambda p: osp.relpath(p, ROOT))
def test_relative_links_exist(doc):
    with open(doc) as f:
        text = f.read()
    links = [t for t in LINK.findall(text)
             if not t.startswith(('http://', 'https://', '#', 'mailto:'))]
    missing = [t for t in links
               if not osp.exists(osp.join(osp.dirname(doc),
                                          t.split('#')[0]))]
    assert not missing, missing


def _ticked_paths(text):
    for path in TICKED.findall(text):
        path = path.split('::')[0].rstrip('.,:;)')
        if any(c in path for c in '<>*{}$') or '...' in path:
            continue  # a pattern, not a path
        yield path


@pytest.mark.parametrize('kind', ['markdown', 'python'])
def test_repo_paths_in_backticks_exist(kind):
    files = MARKDOWN if kind == 'markdown' else _tracked('*.py')
    checked, missing = 0, []
    for path in files:
        with open(path) as f:
            text = f.read()
        for ref in _ticked_paths(text):
            checked += 1
            if not osp.exists(osp.join(ROOT, ref)):
                missing.append(f'{osp.relpath(path, ROOT)}: {ref}')
    assert checked > 10  # the pattern finds the paths we write
    assert not missing, missing


def test_nothing_points_outside_the_repository():
    outside = re.compile(r'(\.\./)+shared/|\bshared/(DCKD|PLATFORM|STYLE|'
                         r'REFERENCE_MODELS)\.md')
    bad = []
    for path in _tracked():
        if not osp.isfile(path) or path.endswith(('.png', '.pth')):
            continue
        try:
            with open(path, encoding='utf-8') as f:
                text = f.read()
        except UnicodeDecodeError:
            continue
        if outside.search(text):
            bad.append(osp.relpath(path, ROOT))
    assert not bad, bad


def test_readme_shows_the_two_commands():
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    assert 'make demo' in text and 'make test' in text
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        assert 'make test' in f.read()
