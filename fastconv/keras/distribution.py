"""``keras.distribution``: data-parallel training over the processes of ``mpirun`` (``fastconv.distribution``)."""

from fastconv.distribution import (DataParallel, DeviceMesh, distribution, get_device_count, initialize, list_devices,
                                   set_distribution)

__all__ = ["DataParallel", "DeviceMesh", "distribution", "get_device_count", "initialize", "list_devices",
           "set_distribution"]
