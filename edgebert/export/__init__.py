"""Export: a model directory → a validated bundle for one target (ONNX or TorchScript)."""
