# Copyright (c) dckd_mm contributors. All rights reserved.
"""The named comparison sets and the paper's claims, read from YAML.

A sets file (the project's is ``configs/demo/config_sets.yml``) holds two
mappings:

``claims``
    claim id -> ``text``, ``paper`` (the paper's evidence), ``better``
    (a method id) and ``worse`` (a list of method ids): the claim holds
    when the mean top-1 of ``better`` is at least every mean in ``worse``.
``sets``
    set name -> ``teacher`` (config path), ``baseline`` (the method id the
    throughput is compared with), ``claims`` (the claim ids the set tests)
    and ``methods`` (a list of ``id``, ``name``, ``config`` and optional
    ``options``, the cfg-options of that run), optional ``title``.

Config paths are relative to the folder of the sets file, as ``_base_``
paths are in a config. Everything is checked when the file is read, so a
typo fails before the first run rather than after an hour of training.
"""
import os.path as osp
import re
from typing import Any, Dict, List, Mapping, NoReturn

from ..errors import ConfigError, MissingFileError

__all__ = ['load_config_sets']

_ID = re.compile(r'[A-Za-z0-9_.-]+')


def _fail(path: str, what: str) -> NoReturn:
    raise ConfigError(f'{path}: {what}')


def _config_path(path: str, base: str, name: str, rel: Any) -> str:
    """``rel`` resolved against the sets file's folder, returned relative
    to the working directory (``configs/demo/...`` from the root)."""
    if not isinstance(rel, str) or not rel:
        _fail(path, f'set {name!r} names a config that is not a path: '
              f'{rel!r}.')
    full = osp.normpath(osp.join(base, rel))
    if not osp.isfile(full):
        raise MissingFileError(
            f'{path}: set {name!r} names {rel}, which does not exist '
            f'({full}; paths are relative to the folder of the sets file).')
    try:
        return osp.relpath(full)
    except ValueError:  # another drive than the working directory
        return full


def _claims(path: str, raw: Any) -> Dict[str, dict]:
    if not isinstance(raw, Mapping):
        _fail(path, '"claims" must map claim ids to claims.')
    claims = {}
    for cid, claim in raw.items():
        if not isinstance(claim, Mapping) or \
                not isinstance(claim.get('better'), str) or \
                not isinstance(claim.get('worse'), list) or \
                not claim['worse'] or \
                not all(isinstance(w, str) for w in claim['worse']):
            _fail(path, f'claim {cid!r} needs "better" (a method id) and '
                  '"worse" (a non-empty list of method ids).')
        claims[str(cid)] = dict(id=str(cid),
                                text=str(claim.get('text', cid)),
                                paper=str(claim.get('paper', '')),
                                better=claim['better'],
                                worse=list(claim['worse']))
    return claims


def _methods(path: str, base: str, name: str, raw: Any) -> List[dict]:
    if not isinstance(raw, list) or not raw:
        _fail(path, f'set {name!r} needs a non-empty "methods" list.')
    methods: List[dict] = []
    for m in raw:
        if not isinstance(m, Mapping) or not m.get('name') or \
                not m.get('config') or not m.get('id'):
            _fail(path, f'set {name!r} has a method without id, name or '
                  f'config: {m!r}.')
        mid = str(m['id'])
        if not _ID.fullmatch(mid):
            _fail(path, f'set {name!r}: method id {mid!r} may only hold '
                  'letters, digits, "_", "." and "-" (it names the run '
                  'folder).')
        options = m.get('options') or {}
        if not isinstance(options, Mapping):
            _fail(path, f'set {name!r}, method {mid!r}: "options" must map '
                  'config keys to values.')
        methods.append(dict(id=mid, name=str(m['name']),
                            config=_config_path(path, base, name,
                                                m['config']),
                            options=dict(options)))
    for key in ('id', 'name'):
        seen = [m[key] for m in methods]
        twice = sorted({v for v in seen if seen.count(v) > 1})
        if twice:
            _fail(path, f'set {name!r} repeats the method {key}(s) {twice}.')
    return methods


def _set(path: str, base: str, name: str, spec: Any,
         claims: Mapping[str, dict]) -> dict:
    if not isinstance(spec, Mapping) or 'teacher' not in spec:
        _fail(path, f'set {name!r} needs a teacher config.')
    methods = _methods(path, base, name, spec.get('methods'))
    ids = {m['id'] for m in methods}
    baseline = spec.get('baseline')
    if baseline not in ids:
        _fail(path, f'set {name!r}: "baseline" must be one of its method '
              f'ids {sorted(ids)}, not {baseline!r}.')
    wanted = spec.get('claims') or []
    if not isinstance(wanted, list):
        _fail(path, f'set {name!r}: "claims" must be a list of claim ids.')
    tested = []
    for cid in wanted:
        if cid not in claims:
            _fail(path, f'set {name!r} tests the unknown claim {cid!r} '
                  f'(known: {sorted(claims)}).')
        claim = claims[cid]
        missing = [i for i in [claim['better']] + claim['worse']
                   if i not in ids]
        if missing:
            _fail(path, f'set {name!r} tests claim {cid!r} but has no '
                  f'method with the id(s) {missing}.')
        tested.append(dict(claim))
    return dict(name=str(name), title=spec.get('title'),
                teacher=_config_path(path, base, name, spec['teacher']),
                baseline=baseline, methods=methods, claims=tested)


def load_config_sets(path: str) -> Dict[str, dict]:
    """Read and check the named comparison sets of a YAML file.

    Args:
        path (str): the sets file (see the module's docstring).

    Returns:
        dict: set name -> ``dict(name, title, teacher, baseline, methods,
        claims)``; config paths relative to the working directory, each
        method with ``options`` (``{}`` when none), each claim as a dict
        with its ``id``.

    Raises:
        MissingFileError: no sets file, or a config it names is missing.
        ConfigError: a set or a claim lacks a field, repeats a method id
            or name, names an unknown baseline or claim, or tests a claim
            on ids it does not have.
    """
    import yaml
    if not osp.isfile(path):
        raise MissingFileError(f'sets file {path} does not exist.')
    with open(path) as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise ConfigError(f'{path}: not valid YAML: {err}') from err
    if not isinstance(raw, Mapping) or not isinstance(
            raw.get('sets'), Mapping) or not raw['sets']:
        _fail(path, 'expected a mapping with "claims" and a non-empty '
              '"sets" mapping.')
    claims = _claims(path, raw.get('claims') or {})
    base = osp.dirname(osp.abspath(path))
    return {str(name): _set(path, base, str(name), spec, claims)
            for name, spec in raw['sets'].items()}
