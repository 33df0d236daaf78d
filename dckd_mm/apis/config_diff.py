# Copyright (c) dckd_mm contributors. All rights reserved.
"""Which settings that change training differ between two configs.

``--resume`` compares the run's config with the one the checkpoint was
saved with. mmengine 0.10.7's ``Runner.save_checkpoint`` stores the
runner's whole config as ``meta['cfg'] = cfg.pretty_text``: Python source
of ``key = value`` lines whose values are literals and ``dict(...)`` calls.
That text comes from a checkpoint file, so it is **never run**
(``Config.fromstring`` would execute it): :func:`parse_config_text` reads
it with :mod:`ast`, turning literals and ``dict(...)`` into values and
anything else (``inf``, a name, a call) into a :class:`Source`, compared by
its text. The run's own config goes through the same text
(:func:`config_values`), so both sides are read the same way whatever
yapf made of the checkpoint's.

:func:`flatten` turns a config into dotted keys (``model.distiller
.distill_losses.loss_dckd.tau``; list items by index, as
``--cfg-options`` names them: ``param_scheduler.0.end``). Lists of plain
values (``milestones``) are one value; a list holding dicts
(``pipeline``) is flattened item by item. :func:`diff_configs` returns
``(key, old, new)`` for each key whose value differs, :data:`MISSING` on
the side that lacks it. Numbers compare by value (``4 == 4.0``), but a
bool is not a number and a list is not a tuple.

Everything is compared except the keys below, which either only say
where things are or do not change the training itself:

* :data:`IGNORED_KEYS` (a key and everything under it):
  ``work_dir``, ``load_from``, ``resume``, ``launcher``,
  ``experiment_name`` (the tools name each run after the nanosecond it
  started), logging and visualisation (``log_level``, ``log_processor``,
  ``visualizer``, ``vis_backends``, ``default_hooks.logger``,
  ``default_hooks.timer``, ``default_hooks.visualization``,
  ``default_hooks.checkpoint``: how often checkpoints are written, how many
  are kept, which is best), validation and testing (``val_dataloader``,
  ``val_cfg``, ``val_evaluator``, ``val_pipeline``, ``test_dataloader``,
  ``test_cfg``, ``test_evaluator``, ``test_pipeline``,
  ``train_cfg.val_interval``, ``train_cfg.val_begin``,
  ``train_cfg.dynamic_intervals``) and ``env_cfg`` (cuDNN benchmark,
  multiprocessing, the distributed backend).
* :data:`IGNORED_NAMES` (any key with this component, at any depth):
  ``teacher_ckpt`` (a location; the teacher's weights are compared with the
  checkpoint's by ``check_resumed_teacher``), ``data_root``,
  ``data_prefix``, ``ann_file`` and ``backend_args`` (where the data is
  read from), and ``init_cfg`` (how weights are initialised: a resumed
  run loads every weight from the checkpoint, which ``check_fits``
  ensures).
"""
import ast
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional

from mmengine.config import Config

__all__ = [
    'MISSING', 'Source', 'Change', 'IGNORED_KEYS', 'IGNORED_NAMES',
    'parse_config_text', 'config_values', 'is_ignored', 'flatten',
    'diff_configs', 'format_change'
]

IGNORED_KEYS = (
    'work_dir', 'load_from', 'resume', 'launcher', 'experiment_name',
    'log_level', 'log_processor', 'visualizer', 'vis_backends', 'env_cfg',
    'default_hooks.logger', 'default_hooks.timer',
    'default_hooks.visualization', 'default_hooks.checkpoint',
    'val_dataloader', 'val_cfg', 'val_evaluator', 'val_pipeline',
    'test_dataloader', 'test_cfg', 'test_evaluator', 'test_pipeline',
    'train_cfg.val_interval', 'train_cfg.val_begin',
    'train_cfg.dynamic_intervals')

IGNORED_NAMES = ('teacher_ckpt', 'data_root', 'data_prefix', 'ann_file',
                 'backend_args', 'init_cfg')


class _Missing:
    """The value of a key one config lacks."""

    def __repr__(self) -> str:
        return '<absent>'

    def __reduce__(self) -> str:
        return 'MISSING'


MISSING = _Missing()


class Source:
    """An expression of a config text that is not a plain value (``inf``,
    a name, a call other than ``dict``), kept as its source text.

    Args:
        text (str): the expression, as :func:`ast.unparse` writes it.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Source) and other.text == self.text

    def __hash__(self) -> int:
        return hash(('Source', self.text))

    def __repr__(self) -> str:
        return self.text


class Change(NamedTuple):
    """One key whose value differs: ``old`` in the checkpoint's config,
    ``new`` in the run's (:data:`MISSING` where a side lacks it)."""
    key: str
    old: Any
    new: Any


def _value(node: ast.AST) -> Any:
    """The value of an expression of a config text, without running it."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_value(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        keys = [_value(key) for key in node.keys]
        if all(isinstance(key, (str, int, float, bool, type(None)))
               for key in keys):
            return {k: _value(v) for k, v in zip(keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == 'dict' and len(node.args) <= 1 and \
            all(kw.arg is not None for kw in node.keywords):
        base = _value(node.args[0]) if node.args else {}
        if isinstance(base, dict):
            base.update({kw.arg: _value(kw.value) for kw in node.keywords})
            return base
    if isinstance(node, ast.UnaryOp) and isinstance(
            node.op, (ast.USub, ast.UAdd)) and isinstance(
                node.operand, ast.Constant) and isinstance(
                    node.operand.value, (int, float, complex)) and \
            not isinstance(node.operand.value, bool):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    return Source(ast.unparse(node))


def parse_config_text(text: Any) -> Optional[Dict[str, Any]]:
    """Read a config's pretty text (``key = value`` lines) without running
    it.

    Args:
        text (Any): what the checkpoint stores as ``meta['cfg']``.

    Returns:
        dict, optional: each top-level key's value; None when ``text`` is
        not a string of ``name = expression`` lines (another tool's meta,
        an edited or damaged checkpoint).
    """
    if not isinstance(text, str):
        return None
    try:
        tree = ast.parse(text, mode='exec')
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    values: Dict[str, Any] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            return None
        try:
            values[stmt.targets[0].id] = _value(stmt.value)
        except RecursionError:
            return None
    return values


def config_values(cfg: Config) -> Optional[Dict[str, Any]]:
    """The run's config as :func:`parse_config_text` reads a checkpoint's:
    through ``pretty_text`` (without yapf, which changes only the layout).

    Args:
        cfg (Config): the run's config.

    Returns:
        dict, optional: each top-level key's value; None when the config
        has values ``pretty_text`` cannot write as Python.
    """
    try:
        text = Config(cfg.to_dict(), format_python_code=False).pretty_text
    except Exception:
        return None
    return parse_config_text(text)


def is_ignored(key: str,
               keys: Iterable[str] = IGNORED_KEYS,
               names: Iterable[str] = IGNORED_NAMES) -> bool:
    """Whether dotted ``key`` is, or lies under, an ignored key, or has an
    ignored name as one of its components.

    Args:
        key (str): a dotted key (``'default_hooks.logger.interval'``).
        keys (Iterable[str]): ignored keys, each with everything under it.
        names (Iterable[str]): ignored components, at any depth.

    Returns:
        bool: True when the key is not compared.
    """
    parts = key.split('.')
    if any(part in names for part in parts):
        return True
    return any(key == k or key.startswith(k + '.') for k in keys)


def _holds_mapping(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, (list, tuple)) and any(
        _holds_mapping(item) for item in value)


def flatten(tree: Mapping,
            ignored: Any = is_ignored) -> Dict[str, Any]:
    """A config as ``{dotted key: value}``.

    A non-empty dict is opened key by key, a list or tuple holding a dict
    item by item (``pipeline.0.type``); anything else is one value (a
    number, a string, ``milestones=[18, 24]``, an empty dict or list).

    Args:
        tree (Mapping): the config's values (:func:`parse_config_text`).
        ignored (Callable[[str], bool]): keys to leave out with everything
            under them (default :func:`is_ignored`); ``lambda key: False``
            keeps every key.

    Returns:
        dict: the values by dotted key.
    """
    flat: Dict[str, Any] = {}

    def walk(value: Any, key: str) -> None:
        if key and ignored(key):
            return
        if isinstance(value, Mapping) and value:
            items = ((str(k), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)) and _holds_mapping(value):
            items = ((str(i), v) for i, v in enumerate(value))
        else:
            flat[key] = value
            return
        for name, item in items:
            walk(item, f'{key}.{name}' if key else name)

    for name, value in tree.items():
        walk(value, str(name))
    return flat


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind: numbers by value (``4 == 4.0``, not
    ``True``), lists and tuples item by item (a list is not a tuple)."""
    numbers = (int, float, complex)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, numbers) and isinstance(b, numbers):
        return a == b
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(
            _same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return isinstance(a, Mapping) and isinstance(b, Mapping) and \
            set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _order(key: str) -> List[Any]:
    """Sort key: list indices as numbers (``pipeline.2`` before
    ``pipeline.10``)."""
    return [(0, int(p), '') if p.isdigit() else (1, 0, p)
            for p in key.split('.')]


def diff_configs(old: Mapping, new: Mapping,
                 ignored: Any = is_ignored) -> List[Change]:
    """The keys whose values differ between two configs.

    Args:
        old (Mapping): the checkpoint's config values.
        new (Mapping): the run's config values.
        ignored (Callable[[str], bool]): keys not compared (default
            :func:`is_ignored`).

    Returns:
        list[Change]: ``(key, old, new)`` per differing key, sorted by key;
        :data:`MISSING` for a key one side lacks. Empty when the configs
        train the same.
    """
    before, after = flatten(old, ignored), flatten(new, ignored)
    changes = []
    for key in sorted(set(before) | set(after), key=_order):
        a, b = before.get(key, MISSING), after.get(key, MISSING)
        if a is MISSING or b is MISSING or not _same(a, b):
            changes.append(Change(key, a, b))
    return changes


def format_change(change: Change) -> str:
    """``'key: old -> new'`` with the values as Python writes them
    (``model.distiller.distill_losses.loss_dckd.tau: 4.0 -> 2.0``)."""
    return f'{change.key}: {change.old!r} -> {change.new!r}'
