"""Every read of Keras's private graph structures, in one place (Keras 3).

A functional model keeps its graph in private attributes: the nodes Keras runs, grouped by depth
(``model._nodes_by_depth``), the layer that made a tensor (``tensor._keras_history``) and the calls that
feed a layer (``layer._inbound_nodes`` and each node's ``parent_nodes``). The receptive-field walk
(``seglib.analysis.fields``), the ASPP analysis (``seglib.analysis.aspp``) and the pretrained backbone's
layer list (``seglib.model.pretrained``) need them; Keras has no public way to ask. The nodes returned
here are Keras's own ``Node`` objects (``operation``, ``input_tensors``, ``output_tensors``); when a
Keras release changes them, this module is the one to read. Everything else uses public Keras API
(``model.layers``, ``layer.output``, ``keras.Model`` on inner tensors, ``clone_model``).

Importing this module does not import TensorFlow or Keras.
"""

from __future__ import annotations

from typing import Any


def graph_nodes(model) -> list:
    """Every node of ``model``'s graph that applies an operation, in the order Keras runs them
    (decreasing depth: the inputs' readers first), as Keras's own ``Function._run_through_graph`` does."""
    nodes_by_depth = model._nodes_by_depth
    return [node for depth in sorted(nodes_by_depth, reverse=True) for node in nodes_by_depth[depth]
            if node.operation is not None and not node.is_input]


def is_functional(operation) -> bool:
    """Whether ``operation`` is itself a functional model (a graph to walk into), not a plain layer."""
    return hasattr(operation, "_nodes_by_depth") and hasattr(operation, "inputs")


def producer(tensor) -> Any | None:
    """The layer that computed ``tensor`` (None for a model input)."""
    history = getattr(tensor, "_keras_history", None)
    return history[0] if history else None


def parent_layers(layer) -> list:
    """The layers whose outputs ``layer`` is called on, over all its calls."""
    return [parent.operation for node in getattr(layer, "_inbound_nodes", [])
            for parent in getattr(node, "parent_nodes", [])]
