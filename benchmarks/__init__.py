"""Speed and memory measurements (not tests). Run as modules: ``python -m benchmarks.bench_motion``."""
