"""Matrix products of the ``Dense`` layer (forward and both gradients) on the convolution's register tiles.

A Dense layer is a 1x1 convolution of one-pixel images, so the SIMD tiles
of ``conv2d_tiles.py`` compute it through the drivers of ``conv2d_tiled.py``:
a row of a matrix is a pixel, its columns the channels. Running on fastconv's
threads, next to the convolutions, keeps a second thread pool (BLAS's) from
competing for the cores; on two cores these kernels run the textbook CNN's
Dense layer about twice as fast as single-threaded BLAS.

Kernels only: float32, C-contiguous. The tiles read the right-hand operand
a whole block of two vectors of columns at a time (so that no task has a
lone vector: the kernel then has no one-vector tiles to compile). A Dense
kernel of at least one block is read in place, its last columns that make
no whole block as the block that ends at its last column (the textbook's
100 units: columns 68-99, of which 96-99 are kept); ``fastconv.ops``
zero-pads only a kernel narrower than a block, the output gradient (small)
to whole vectors for the kernel gradient, and its transpose to whole blocks
for the input gradient.

- :func:`_matmul_tiled`: ``out = act(a @ b + bias)``, the forward pass, and
  (with ``a`` the kernel and ``b`` the output gradient transposed) the input
  gradient transposed, which each task also writes back the right way round
  for the rows it computed (a copy of the whole result afterwards, in numpy,
  took a fifth of the time the Python around a training step took).
- :func:`_matmul_tn_tiled`: ``out = a.T @ b``, the kernel gradient, summed
  in place in whole vectors of columns, the last partial vector beside it
  and copied to ``out`` by the task that computed the rows.

How many rows a task takes is the caller's choice (``fastconv.ops`` sizes
tasks by the shapes, so that a many-core machine gets enough of them); every
output element is summed in the same order whatever task computes it.
"""


from fastconv._jit import helper, kernel
from fastconv.kernels.tasks import first_task, next_task
from fastconv.kernels.conv2d_tiled import CHANNEL_BLOCK_VECTORS, _conv_row, _grad_kernel_block
from fastconv.kernels.simd import lanes_of

@helper
def _as_5d(matrix):
    return matrix.reshape(1, 1, 1, matrix.shape[0], matrix.shape[1])


@helper
def _as_4d(matrix):
    """``matrix`` as a ``(1, 1, rows, columns)`` view: the tiles read flat offsets, and 4-D arrays are the
    types they are already compiled for (the convolutions'), so the matrix products add no compile time."""
    return matrix.reshape(1, 1, matrix.shape[0], matrix.shape[1])


VECTORS_PER_TASK = CHANNEL_BLOCK_VECTORS
"""Output column vectors per task of :func:`_matmul_tiled`: one two-vector tile wide, the block of columns
that ``fastconv.ops`` pads narrow kernels to (``_channel_block``)."""


@helper
def _store_transposed(block, first_row, n_rows, first_column, n_columns, transposed):
    """``transposed[c, r] = block[r, c]`` for the ``n_rows`` rows from ``first_row`` and the ``n_columns``
    columns from ``first_column`` (rows of ``transposed`` written in order)."""
    for c in range(first_column, first_column + n_columns):
        for r in range(first_row, first_row + n_rows):
            transposed[c, r] = block[r, c]


@kernel
def _matmul_tiled(job, a, b, bias, out, rows_per_task, relu, transposed, tail):
    """``out = act(a @ b[:, :N] + bias[:N])``, ``act`` ReLU when ``relu`` is true; also ``transposed = out.T``
    unless ``transposed`` is empty.

    ``a`` is ``(P, K)``, ``b`` ``(K, NB)`` with ``NB >= N`` and at least one
    block of ``VECTORS_PER_TASK`` vectors of columns, ``bias`` ``(NB,)``;
    ``out`` ``(P, N)`` is overwritten, and so is ``transposed``, ``(N, P)`` or
    ``(0, 0)``. Tasks are blocks of ``rows_per_task`` rows x one block of
    columns, each written by one task (to both), each sum in a fixed order.
    The blocks that lie within ``NB`` read ``b`` in place (the columns of
    theirs beyond ``N`` are read, never written out: no task has a lone
    vector, so this kernel has no one-vector tiles). The last of ``N``
    columns that make no whole block within ``NB`` (a Dense kernel read in
    place, ``NB == N``) are computed as the block that ends at ``b``'s last
    column, into ``tail`` (``(P, block)``; ``(0, 0)`` where every block lies
    within ``NB``), and copied from there: so the product never copies ``b``. Consecutive tasks
    are consecutive row blocks of one column block: a thread's chunk of them
    reuses that block of ``b`` from its cache.
    """
    n_rows, depth = a.shape
    n_out = out.shape[1]
    n_b = b.shape[1]
    columns = VECTORS_PER_TASK * lanes_of(b)
    column_blocks = (n_out + columns - 1) // columns
    within_b = min(column_blocks, n_b // columns)  # blocks read and written in place
    row_blocks = (n_rows + rows_per_task - 1) // rows_per_task
    n_tasks = row_blocks * column_blocks
    task = first_task(job, n_tasks)
    while task < n_tasks:
        column_block = task // row_blocks
        first_row = (task - column_block * row_blocks) * rows_per_task
        count = min(rows_per_task, n_rows - first_row)
        f0 = column_block * columns
        # One kernel tap: the tap strides are never used, and `one` is a runtime value (a literal 1 or 0
        # would compile another copy of every tile).
        one = min(1, n_rows)
        # Blocks within b are written in place; the last one (see above) into tail, then copied. One call
        # site of _conv_row for both: each inlined copy of it took the kernel 0.7 s longer to compile.
        written_in_place = column_block < within_b
        first_column = f0 if written_in_place else n_b - columns  # of b and of bias
        dst = out if written_in_place else tail
        dst_columns = n_out if written_in_place else columns
        _conv_row(_as_4d(a), first_row * depth, depth, depth, depth, one, one, depth,
                  _as_5d(b), first_column, n_b, n_b, n_b, CHANNEL_BLOCK_VECTORS * lanes_of(b),
                  _as_4d(dst), first_row * dst_columns + (f0 if written_in_place else 0), dst_columns, count,
                  min(columns, n_out - f0) if written_in_place else columns, bias[first_column:], relu, None)
        if not written_in_place:
            for r in range(first_row, first_row + count):
                for c in range(f0, n_out):
                    out[r, c] = tail[r, c - first_column]
        if transposed.shape[0]:
            _store_transposed(out, first_row, count, f0, min(columns, n_out - f0), transposed)
        task = next_task(job, task)


@kernel
def _matmul_tn_tiled(job, a, b, out, tail, rows_per_task):
    """``out = a.T @ b[:, :N]``: ``a`` ``(P, K)``, ``b`` ``(P, NP)``, ``out`` ``(K, N)`` overwritten.

    ``NP >= N`` is a multiple of the vector width. Each task owns a block of
    ``rows_per_task`` rows of ``out`` (columns of ``a``) and sums over all
    ``P`` rows in order (the tiles add to what they write, so it zeroes its
    rows first): the whole vectors of ``N`` columns in place, the columns
    after them (fewer than a vector) as one whole vector of ``b``'s into its
    rows of ``tail``, ``(K, LANES)`` (``(0, 0)`` where ``N`` is whole vectors),
    copied from there.
    """
    n_rows, depth = a.shape
    n_b = b.shape[1]
    n_out = out.shape[1]
    lanes = lanes_of(b)
    in_place = n_out // lanes * lanes  # columns summed into out itself
    n_tasks = (depth + rows_per_task - 1) // rows_per_task
    task = first_task(job, n_tasks)
    while task < n_tasks:
        first = task * rows_per_task
        count = min(rows_per_task, depth - first)
        one = min(1, n_rows)  # as in _matmul_tiled: one block row, whose stride is never used
        zero = first - first  # a runtime 0 (offsets into b and the first channel summed), as `one`
        # Two parts, through one call site of _grad_kernel_block (a second inlined copy took 0.6 s more to
        # compile): the whole vectors into out, then the last partial one into tail.
        for part in range(1 if in_place == n_out else 2):
            dst = out if part == 0 else tail
            dst_columns = n_out if part == 0 else lanes
            dst[first:first + count] = 0
            _grad_kernel_block(_as_4d(a), first, depth, depth, _as_4d(b), zero if part == 0 else in_place, n_b, n_b,
                               one, n_rows, _as_4d(dst), first * dst_columns, count, dst_columns, zero,
                               in_place if part == 0 else lanes, None)
        for r in range(first, first + count):
            for c in range(in_place, n_out):
                out[r, c] = tail[r, c - in_place]
        task = next_task(job, task)
