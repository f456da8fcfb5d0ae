"""fastconv's benchmarks: the asv suite (``bench_*.py``, helpers and the textbook CNN in ``common``), shared
configurations (``configs``), side-by-side comparison scripts (``compare_*.py``), the plot (``plot_performance``)
and ``publish_offline`` (the asv dashboard, with the JavaScript it loads from CDNs copied in from ``www/``'s npm
packages).

asv imports every module here when it collects benchmarks: no module may do work at import time, and
only the ``bench_*`` modules define names that start with ``time_``, ``track_``, ``peakmem_``, ``mem_``
or ``timeraw_``.
"""
