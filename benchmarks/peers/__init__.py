"""edgebert against Optimum and PyTorch on the same model, in the same run: `python -m benchmarks.peers`.

build.py makes every variant, workload.py the shared inputs, runners.py calls each kind, timing.py times them
round-robin, memory_probe.py measures each in its own process, limits.py the machine's GEMM limit and each
variant's multiply-accumulates, report.py writes reports/peers.md and reports/peers.json.
"""
