"""The declared shape of an ONNX graph input or output, for the plugins' Python helpers
(backends/iree/prepare_onnx.py, backends/tensorflow/onnx_to_savedmodel.py), which import it
from this folder. Their plugins hash this file with their helper into their cache keys.
"""


def declared_shape(value_info):
    """(dims, symbols): a free dimension is -1 with its dim_param name, a fixed one ''."""
    dims, symbols = [], []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(d.dim_value)
            symbols.append("")
        else:
            dims.append(-1)
            symbols.append(d.dim_param)
    return dims, symbols
