# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The import graph runs model -> engine -> node with no arrow back up.

Read from the source (every import, also those inside functions), so a lazy import that
only runs on some path cannot hide an upward dependency.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / 'sgcp_core'

# A module of the left-hand package may not import any of the right-hand ones.
FORBIDDEN = {
    'sgcp_core': ('sgcp_ros', 'rclpy'),
    'sgcp_core.models': ('sgcp_core.engine', 'sgcp_core.export', 'sgcp_core.checkpoint',
                         'sgcp_core.training', 'sgcp_core.cli', 'sgcp_core.metadata'),
    'sgcp_core.engine': ('sgcp_core.export', 'sgcp_core.training', 'sgcp_core.cli',
                         'sgcp_core.quantize', 'sgcp_core.release', 'sgcp_core.benchmark',
                         'sgcp_core.distillation'),
    'sgcp_core.metadata': ('sgcp_core.engine', 'sgcp_core.export', 'sgcp_core.models'),
    'sgcp_core.errors': ('sgcp_core.',),
    'sgcp_core.resources': ('sgcp_core.engine', 'sgcp_core.models', 'sgcp_core.export'),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f'{node.module}.{alias.name}' for alias in node.names)
    return names


MODULES = {_module_name(p): _imports(p) for p in sorted(CORE.rglob('*.py'))}


@pytest.mark.parametrize('package, forbidden', sorted(FORBIDDEN.items()))
def test_no_import_against_the_layering(package, forbidden):
    offences = []
    for module, imported in MODULES.items():
        if module != package and not module.startswith(package + '.'):
            continue
        for name in sorted(imported):
            if any(name == f or name.startswith(f if f.endswith('.') else f + '.')
                   for f in forbidden):
                offences.append(f'{module} imports {name}')
    assert not offences, '\n'.join(offences)


def _internal_edges() -> dict[str, set[str]]:
    """module -> the sgcp_core modules it imports (a name imported from a package that is
    a module counts as that module; one that is a function or class, as its package). A
    module importing its own package (``from sgcp_core.cli import CommandError`` in
    ``sgcp_core.cli.train``) is not counted: the package's ``__init__`` runs first anyway."""
    edges = {}
    for module, imported in MODULES.items():
        targets = set()
        for name in imported:
            while name and name not in MODULES:
                name = name.rpartition('.')[0]
            if name and name != module and not module.startswith(name + '.'):
                targets.add(name)
        edges[module] = targets
    return edges


def test_no_import_cycles():
    """No two modules import each other, through any chain (metadata and checkpoint once
    did: read_meta lived in metadata and imported checkpoint inside the function)."""
    edges = _internal_edges()
    cycles = []
    for start in sorted(edges):
        path, seen = [start], set()
        stack = [(start, iter(sorted(edges[start])))]
        while stack:
            module, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                continue
            if child == start:
                cycles.append(' -> '.join(path + [start]))
            elif child not in seen and child > start:   # each cycle once, from its least
                seen.add(child)
                path.append(child)
                stack.append((child, iter(sorted(edges[child]))))
    assert not cycles, '\n'.join(cycles)


def test_metadata_errors_and_resources_are_each_defined_once():
    """A newcomer finds them in one module: no second definition elsewhere."""
    definitions = {}
    for path in sorted(CORE.rglob('*.py')):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                definitions.setdefault(node.name, []).append(_module_name(path))
    for name, home in [('ModelMeta', 'sgcp_core.metadata'),
                       ('meta_from_onnx_props', 'sgcp_core.metadata'),
                       ('ModelFileError', 'sgcp_core.errors'),
                       ('EngineError', 'sgcp_core.errors'),
                       ('ConfigError', 'sgcp_core.errors'),
                       ('DatasetError', 'sgcp_core.errors'),
                       ('ClassGroupsError', 'sgcp_core.errors'),
                       ('TeacherCacheError', 'sgcp_core.errors'),
                       ('DeviceFallbackWarning', 'sgcp_core.errors'),
                       ('default_model_path', 'sgcp_core.resources'),
                       ('atomic_write', 'sgcp_core.files'),
                       ('write_png', 'sgcp_core.files'),
                       ('file_digest', 'sgcp_core.files')]:
        assert definitions.get(name) == [home], (name, definitions.get(name))


def test_the_node_needs_only_the_runtime_requirements(tiny_checkpoint):
    """Importing the node and building its engine loads none of the optional extras."""
    import subprocess
    import sys
    script = (
        'import sys\n'
        'import sgcp_ros.segmentation_node\n'
        'from sgcp_core.config import EngineConfig\n'
        'from sgcp_core.engine import Segmenter\n'
        f'Segmenter(EngineConfig(model_path={str(tiny_checkpoint)!r}, warmup_runs=1,'
        ' threads=1))\n'
        "optional = ('onnx', 'matplotlib', 'rosbags', 'mcap', 'tensorboard', 'sgcp_core.export',"
        " 'sgcp_core.training', 'sgcp_core.benchmark')\n"
        'print(sorted(m for m in optional if m in sys.modules))\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == '[]'
