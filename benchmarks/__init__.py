"""fastconv's benchmarks: the asv suite (``bench_*.py``, helpers in ``common``), shared configurations
(``configs``), side-by-side comparison scripts (``compare_*.py``) and the plot (``plot_performance``).

asv imports every module here when it collects benchmarks: no module may do work at import time, and
only the ``bench_*`` modules define names that start with ``time_``, ``track_``, ``peakmem_``, ``mem_``
or ``timeraw_``.
"""
