"""Benchmark a bundle on the machine it runs on: latency, memory, sizes, accuracy, environment → one JSON document.

Nothing here imports torch, transformers, optimum or onnx (a Raspberry Pi with the base install runs it).
"""
