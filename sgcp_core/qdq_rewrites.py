# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX graph rewrites around ONNX Runtime's static quantizer, so that int8 stays int8.

ONNX Runtime runs a QDQ model fast only where its graph optimiser can fuse
DequantizeLinear -> op -> QuantizeLinear into one integer kernel (QLinearConv, QLinearAdd,
QLinearMul, QLinearSigmoid, QLinearGlobalAveragePool, ...). Any other op runs in float
between a DequantizeLinear and a QuantizeLinear: on the MobileNetV3 variant the
hard-swish, hard-sigmoid and squeeze-excite ops made such float islands between every pair
of int8 convolutions, and the int8 file was no faster than the fp32 one.

``rewrite_for_quantization`` (before calibration) spells those ops with ones that fuse;
each rewrite computes the same function in float, so calibration sees the same tensors:

- HardSwish(x) -> x * (Clip(x + 3, 0, 6) * 1/6): an int8 add whose output range is
  [0, 6] (the Clip then only sets the quantization range and is dropped) and int8 muls.
- HardSigmoid(x) -> Clip(x + beta/alpha, 0, 1/alpha) * alpha, likewise.
- ReduceMean over H and W with keepdims -> GlobalAveragePool (QLinearGlobalAveragePool).
- a 1x1 depthwise convolution without bias whose weights are all one value w (how the fp32
  export writes the SGCP weighted sums' scalings, ``sgcp_core.export._ScaledSum``) -> x * w,
  which ``simplify_quantized`` folds into a scale instead of running an int8 convolution.
- expand conv -> depthwise conv -> project conv chains whose channel count is not a
  multiple of ``DEPTHWISE_CHANNEL_MULTIPLE`` get zero channels up to one (zero weights in
  all three convolutions, so the project convolution's output is the same).

Activations right after a node kept in fp32 stay float ops (named, so that the quantizer
keeps them in float too and ONNX Runtime fuses them into the float convolution).

``simplify_quantized`` (after quantization) removes work the quantizer leaves behind:

- a multiplication by a positive scalar constant (the 1/6 above, the SGCP fusion nodes'
  normalised weights) becomes part of the next DequantizeLinear's scale, so it costs
  nothing instead of an int8 mul over the whole tensor;
- Shape of a dequantized tensor reads the quantized tensor (same shape), so no float copy
  of a feature map (and no layout transpose) is made only to read its size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

__all__ = ['ACTIVATIONS', 'DEPTHWISE_CHANNEL_MULTIPLE', 'REWRITE_PREFIX',
           'rewrite_for_quantization', 'simplify_quantized']

# ONNX Runtime's x86 int8 depthwise convolution takes its fast (symmetric-weight) kernel
# only for channel counts that are multiples of 16 (MLAS ConvSym; 8 on ARM64); others fall
# back to a generic kernel slower than float, so e.g. the MobileNetV3 variant's 72-, 88-
# and 120-channel depthwise convolutions are widened to 80, 96 and 128.
DEPTHWISE_CHANNEL_MULTIPLE = 16
# Ops that follow a convolution as its activation; kept in float with a float convolution.
ACTIVATIONS = ('HardSwish', 'HardSigmoid', 'Relu', 'Clip', 'Sigmoid', 'LeakyRelu')
# Names of the nodes and tensors the rewrites add start with it.
REWRITE_PREFIX = 'int8prep'


def _attributes(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _consumers(graph) -> dict[str, list]:
    table = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            table[name].append(node)
    return table


def _add_constant(graph, name: str, value) -> str:
    from onnx import numpy_helper
    graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
    return name


def _unique(graph, base: str) -> str:
    """A node/tensor name prefix not used in the graph yet."""
    taken = ({n.name for n in graph.node} | {o for n in graph.node for o in n.output}
             | {i.name for i in graph.initializer})
    name, index = f'{REWRITE_PREFIX}/{base}', 0
    while any(t.startswith(name) for t in taken):
        index += 1
        name = f'{REWRITE_PREFIX}/{base}_{index}'
    return name


def _hard_sigmoid_nodes(graph, x: str, y: str, alpha: float, beta: float, base: str) -> list:
    """clip(alpha * x + beta, 0, 1) as Clip(x + beta/alpha, 0, 1/alpha) * alpha (alpha > 0)."""
    from onnx import helper
    shift = _add_constant(graph, f'{base}/shift', beta / alpha)
    low = _add_constant(graph, f'{base}/low', 0.0)
    high = _add_constant(graph, f'{base}/high', 1.0 / alpha)
    scale = _add_constant(graph, f'{base}/scale', alpha)
    return [helper.make_node('Add', [x, shift], [f'{base}/shifted'], f'{base}/Add'),
            helper.make_node('Clip', [f'{base}/shifted', low, high], [f'{base}/clipped'],
                             f'{base}/Clip'),
            helper.make_node('Mul', [f'{base}/clipped', scale], [y], f'{base}/Mul')]


def _followers(graph, names: Iterable[str]) -> list[str]:
    """Activation nodes that are the only consumer of a node in ``names``, transitively."""
    consumers = _consumers(graph)
    by_name = {n.name: n for n in graph.node if n.name}
    found: list[str] = []
    pending = [by_name[name] for name in names if name in by_name]
    while pending:
        node = pending.pop()
        users = [u for output in node.output for u in consumers[output]]
        if len(users) == 1 and users[0].op_type in ACTIVATIONS:
            user = users[0]
            if not user.name:
                user.name = _unique(graph, f'{user.op_type}_after_{node.name}')
            if user.name not in found:
                found.append(user.name)
                pending.append(user)
    return found


def _pad_depthwise_channels(graph, kept: set[str], multiple: int = DEPTHWISE_CHANNEL_MULTIPLE
                            ) -> int:
    """Widen expand conv -> depthwise conv -> project conv chains to ``multiple`` channels.

    The added channels have zero weights and biases in all three convolutions, so the
    project convolution's output is unchanged; the depthwise convolution then has a channel
    count ONNX Runtime's fast int8 depthwise kernel takes. Returns how many were widened.
    """
    from onnx import helper, numpy_helper
    initializers = {i.name: i for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    consumers = _consumers(graph)
    readers = defaultdict(int)
    for node in graph.node:
        for name in node.input:
            readers[name] += 1

    def weight(node):
        name = node.input[1] if len(node.input) > 1 else ''
        return numpy_helper.to_array(initializers[name]) if name in initializers else None

    def only_consumer(tensor):
        users = consumers[tensor]
        return users[0] if len(users) == 1 else None

    def private(node, index):
        """The node's initializer input ``index`` as an array, None if it has no such input,
        False if it is not a constant. One read by other nodes too, or through an Identity
        (the exporter shares equal initializers), is copied first, so only this node sees
        the change."""
        if len(node.input) <= index or not node.input[index]:
            return None
        name = source = node.input[index]
        while source in producers and producers[source].op_type == 'Identity':
            source = producers[source].input[0]
        if source not in initializers:
            return False
        array = numpy_helper.to_array(initializers[source])
        if source != name or readers[name] > 1:
            readers[name] -= 1
            name = _unique(graph, f'{node.name}/{name}')
            graph.initializer.append(numpy_helper.from_array(array, name))
            initializers[name] = graph.initializer[-1]
            readers[name] = 1
            node.input[index] = name
        return array

    def replace(node, index, array):
        name = node.input[index]
        initializers[name].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))

    widened = 0
    for depthwise in list(graph.node):
        kernel = weight(depthwise) if depthwise.op_type == 'Conv' else None
        group = _attributes(depthwise).get('group', 1)
        channels = group
        if (kernel is None or group == 1 or kernel.shape[:2] != (group, 1)
                or channels % multiple == 0 or depthwise.name in kept):
            continue
        # Back to the convolution that makes the channels, through single-use activations.
        expand, tensor = producers.get(depthwise.input[0]), depthwise.input[0]
        between = []
        while expand is not None and expand.op_type in ACTIVATIONS and only_consumer(tensor):
            between.append(expand)
            tensor = expand.input[0]
            expand = producers.get(tensor)
        # On to the convolution that reads them.
        project, tensor = only_consumer(depthwise.output[0]), depthwise.output[0]
        while project is not None and project.op_type in ACTIVATIONS:
            between.append(project)
            tensor = project.output[0]
            project = only_consumer(tensor)
        if (expand is None or project is None or expand.op_type != 'Conv'
                or project.op_type != 'Conv' or only_consumer(expand.output[0]) is None
                or _attributes(expand).get('group', 1) != 1
                or _attributes(project).get('group', 1) != 1
                or any(n.name in kept for n in (expand, project, *between))):
            continue
        arrays = {key: private(node, index) for key, (node, index) in {
            'expand_w': (expand, 1), 'expand_b': (expand, 2), 'depthwise_w': (depthwise, 1),
            'depthwise_b': (depthwise, 2), 'project_w': (project, 1)}.items()}
        if any(a is False for a in arrays.values()) or arrays['expand_w'] is None \
                or arrays['project_w'] is None or arrays['expand_w'].shape[0] != channels \
                or arrays['project_w'].shape[1] != channels:
            continue
        extra = -channels % multiple

        def padded(array, axis):
            width = [(0, 0)] * array.ndim
            width[axis] = (0, extra)
            return np.pad(array, width)

        replace(expand, 1, padded(arrays['expand_w'], 0))
        replace(depthwise, 1, padded(kernel, 0))
        replace(project, 1, padded(arrays['project_w'], 1))
        for key, node in (('expand_b', expand), ('depthwise_b', depthwise)):
            if arrays[key] is not None:
                replace(node, 2, padded(arrays[key], 0))
        for attribute in depthwise.attribute:
            if attribute.name == 'group':
                attribute.CopyFrom(helper.make_attribute('group', channels + extra))
        # Shapes recorded for the widened tensors no longer hold.
        changed = {o for n in (expand, depthwise, *between) for o in n.output}
        kept_info = [v for v in graph.value_info if v.name not in changed]
        del graph.value_info[:]
        graph.value_info.extend(kept_info)
        widened += 1
    return widened


def rewrite_for_quantization(model, keep_float: Iterable[str] = ()) -> list[str]:
    """Rewrite ``model`` (an fp32 ``onnx.ModelProto``, in place) into ops that quantize.

    Args:
        model: the exported fp32 graph, before ONNX Runtime's quantization pre-processing.
        keep_float: names of nodes that will stay in fp32.

    Returns:
        Node names to keep in fp32: ``keep_float`` plus the activations that follow them.
    """
    from onnx import helper, numpy_helper, shape_inference
    graph = model.graph
    ranks = {info.name: len(info.type.tensor_type.shape.dim)
             for info in shape_inference.infer_shapes(model).graph.value_info
             if info.type.tensor_type.HasField('shape')}
    keep = list(keep_float)
    keep += [name for name in _followers(graph, keep) if name not in keep]
    kept = set(keep)
    _own_initializers(graph, kept, {i.name: numpy_helper.to_array(i)
                                    for i in graph.initializer})
    _pad_depthwise_channels(graph, kept)
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        # The exporter shares equal initializers, handing the copies out through Identity.
        if node.op_type == 'Identity' and node.input[0] in initializers:
            initializers[node.output[0]] = initializers[node.input[0]]
    nodes = []
    for node in graph.node:
        attributes = _attributes(node)
        if node.op_type == 'HardSwish':
            x, y = node.input[0], node.output[0]
            base = _unique(graph, node.name or 'HardSwish')
            if node.name in kept:
                # Named float ops: the quantizer leaves them alone and ONNX Runtime fuses them
                # into the float convolution (pre-processing would inline HardSwish into
                # unnamed ones).
                parts = [helper.make_node('HardSigmoid', [x], [f'{base}/gate'],
                                          f'{node.name}/HardSigmoid', alpha=1 / 6, beta=0.5),
                         helper.make_node('Mul', [x, f'{base}/gate'], [y], f'{node.name}/Mul')]
                keep = [k for k in keep if k != node.name] + [p.name for p in parts]
            else:
                parts = _hard_sigmoid_nodes(graph, x, f'{base}/gate', 1 / 6, 0.5, base)
                parts.append(helper.make_node('Mul', [x, f'{base}/gate'], [y], f'{base}/Swish'))
            nodes += parts
        elif node.op_type == 'HardSigmoid' and node.name not in kept:
            alpha, beta = attributes.get('alpha', 0.2), attributes.get('beta', 0.5)
            if alpha <= 0:
                nodes.append(node)
                continue
            base = _unique(graph, node.name or 'HardSigmoid')
            nodes += _hard_sigmoid_nodes(graph, node.input[0], node.output[0], alpha, beta,
                                         base)
        elif node.op_type == 'Conv' and node.name not in kept and (
                scaling := _uniform_scaling(node, attributes, initializers)) is not None:
            scale = _add_constant(graph, f'{_unique(graph, node.name or "Conv")}/scale',
                                  scaling)
            nodes.append(helper.make_node('Mul', [node.input[0], scale], list(node.output),
                                          node.name))
        elif node.op_type == 'ReduceMean' and node.name not in kept:
            axes = attributes.get('axes')
            if axes is None and len(node.input) > 1 and node.input[1] in initializers:
                axes = initializers[node.input[1]].tolist()
            if (axes is not None and ranks.get(node.input[0]) == 4
                    and sorted(a % 4 for a in axes) == [2, 3]
                    and attributes.get('keepdims', 1) == 1):
                nodes.append(helper.make_node('GlobalAveragePool', [node.input[0]],
                                              list(node.output), node.name))
            else:
                nodes.append(node)
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return keep


def _uniform_scaling(node, attributes: dict, initializers: dict) -> float | None:
    """w when ``node`` (a Conv) multiplies every element by one constant w, else None."""
    weight = initializers.get(node.input[1]) if len(node.input) == 2 else None
    if (weight is None or weight.ndim != 4 or weight.shape[1:] != (1, 1, 1)
            or attributes.get('group', 1) != weight.shape[0]
            or any(v != 1 for v in attributes.get('strides', [1, 1]))
            or any(v != 0 for v in attributes.get('pads', [0, 0, 0, 0]))
            or not np.all(weight == weight.flat[0])):
        return None
    return float(weight.flat[0])


def _own_initializers(graph, kept: set[str], initializers: dict) -> None:
    """Give nodes kept in fp32 their own copy of initializers that others read too.

    The exporter shares equal initializers between nodes (e.g. the zero biases of an
    untrained model); quantizing one reader would hand the float node a dequantized copy.
    """
    from onnx import numpy_helper
    readers = defaultdict(set)
    for node in graph.node:
        for name in node.input:
            readers[name].add(node.name)
    for node in graph.node:
        if node.name not in kept:
            continue
        for index, name in enumerate(node.input):
            if name in initializers and readers[name] - {node.name}:
                copy = _unique(graph, f'{node.name}/{name}')
                graph.initializer.append(numpy_helper.from_array(initializers[name], copy))
                node.input[index] = copy


def _constant_value(name: str, initializers: dict, producers: dict):
    """Float value of ``name`` if it is an initializer or DequantizeLinear(initializer)."""
    from onnx import numpy_helper
    if name in initializers:
        return numpy_helper.to_array(initializers[name]).astype(np.float32)
    node = producers.get(name)
    if node is None or node.op_type != 'DequantizeLinear' or node.input[0] not in initializers:
        return None
    values = [numpy_helper.to_array(initializers[i]) if i in initializers else None
              for i in node.input[:3]]
    if any(v is None for v in values[:2]) or values[1].size != 1:
        return None
    zero_point = values[2].astype(np.float32) if len(values) > 2 and values[2] is not None \
        else 0.0
    return (values[0].astype(np.float32) - zero_point) * values[1].astype(np.float32)


def _fold_scalar_multipliers(model) -> int:
    """Q(Mul(DQ(a), c)), c a positive scalar constant: the consumers' DQs read a, scale * c."""
    from onnx import numpy_helper
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    initializers = {i.name: i for i in graph.initializer}
    consumers = _consumers(graph)
    outputs = {o.name for o in graph.output}
    removed: set[int] = set()
    folded = 0
    for node in list(graph.node):
        if node.op_type != 'Mul' or len(node.input) != 2:
            continue
        for data, other in ((node.input[0], node.input[1]), (node.input[1], node.input[0])):
            factor = _constant_value(other, initializers, producers)
            dequantize = producers.get(data)
            if (factor is None or factor.size != 1 or not float(factor.reshape(())) > 0
                    or dequantize is None or dequantize.op_type != 'DequantizeLinear'
                    or dequantize.input[1] not in initializers):
                continue
            scale = numpy_helper.to_array(initializers[dequantize.input[1]])
            users = consumers[node.output[0]]
            if scale.size != 1 or len(users) != 1 or users[0].op_type != 'QuantizeLinear':
                continue
            quantize = users[0]
            readers = consumers[quantize.output[0]]
            if (not readers or any(r.op_type != 'DequantizeLinear' for r in readers)
                    or quantize.output[0] in outputs or node.output[0] in outputs):
                continue
            new_scale = _add_constant(graph, _unique(graph, f'{node.name or "Mul"}/scale'),
                                      (scale * float(factor.reshape(()))).astype(scale.dtype))
            for reader in readers:
                reader.input[0] = dequantize.input[0]
                reader.input[1] = new_scale
                del reader.input[2:]
                reader.input.extend(dequantize.input[2:3])
            removed.update((id(node), id(quantize)))
            folded += 1
            break
    kept = [n for n in graph.node if id(n) not in removed]
    del graph.node[:]
    graph.node.extend(kept)
    return folded


def _shape_of_quantized(model) -> int:
    """Shape(DequantizeLinear(q)) -> Shape(q)."""
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    changed = 0
    for node in graph.node:
        source = producers.get(node.input[0]) if node.op_type == 'Shape' else None
        if source is not None and source.op_type == 'DequantizeLinear':
            node.input[0] = source.input[0]
            changed += 1
    return changed


def _drop_unused(model) -> None:
    """Remove nodes whose outputs nobody reads, then initializers nobody reads."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        kept = [n for n in graph.node if any(o in read for o in n.output)]
        if len(kept) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(kept)
    read = {name for node in graph.node for name in node.input} | outputs
    initializers = [i for i in graph.initializer if i.name in read]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def simplify_quantized(model) -> dict[str, int]:
    """Simplify a QDQ model written by ``quantize_static`` (in place).

    Returns:
        How many multiplications were folded into scales and Shape ops rewired.
    """
    counts = {'folded_multipliers': _fold_scalar_multipliers(model),
              'shapes_of_quantized': _shape_of_quantized(model)}
    _drop_unused(model)
    return counts
