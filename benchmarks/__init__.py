"""Benchmarks: ratios measured in one run on the demo model (`make bench`)."""
