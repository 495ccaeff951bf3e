"""Export of a found network: a folder of JSON + safetensors that loads without running code
(:mod:`gtnas.export.bundle`) and an ONNX model checked with onnxruntime
(:mod:`gtnas.export.onnx`, optional extra ``gtnas[export]``)."""

from gtnas.export.bundle import LoadedNetwork, load_network, read_network, save_network

__all__ = ["LoadedNetwork", "load_network", "read_network", "save_network"]
