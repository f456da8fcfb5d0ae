"""fastconv's benchmarks: shared configurations (``configs``) and side-by-side comparison scripts."""
