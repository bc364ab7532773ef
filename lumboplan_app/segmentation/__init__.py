"""Segmentation of the seven structures with a 3-D U-Net (DESIGN.md, model contract)."""

#: Where a Segmenter may run the model (see ``inference.load_network``): ``auto``, ``cpu``
#: (ONNX Runtime), ``torch-cpu``, ``cuda``, ``mps`` (PyTorch).
SEGMENTER_DEVICES = ("auto", "cpu", "torch-cpu", "cuda", "mps")
