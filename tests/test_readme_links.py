# Copyright (c) dckd_mm contributors. All rights reserved.
"""Every relative link in every README points at a file that exists."""
import glob
import os.path as osp
import re

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
READMES = [osp.join(ROOT, 'README.md')] + sorted(
    glob.glob(osp.join(ROOT, 'configs', '**', 'README.md'), recursive=True))
LINK = re.compile(r'\]\(([^)\s]+)\)')


@pytest.mark.parametrize('readme', READMES,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_relative_links_exist(readme):
    with open(readme) as f:
        text = f.read()
    links = [t for t in LINK.findall(text)
             if not t.startswith(('http://', 'https://', '#', 'mailto:'))]
    assert links, 'no links checked'
    missing = [t for t in links
               if not osp.exists(osp.join(osp.dirname(readme),
                                          t.split('#')[0]))]
    assert not missing, missing


def test_readme_shows_the_two_commands():
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    assert 'make demo' in text and 'make test' in text
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        assert 'make test' in f.read()
