"""The projective (affine) resampling of a batch of NHWC images: the kernel of the random image augmentations.

Kernel only: arrays are preallocated and already checked by ``fastconv.ops.affine_transform``.

Each output pixel ``(row, col)`` of image ``n`` samples image ``n`` at the point that
``transforms[n] = (a0, a1, a2, b0, b1, b2, c0, c1)`` maps it to, with ``x`` the column and ``y`` the row
(Keras's ``ops.image.affine_transform`` and TensorFlow's ``ImageProjectiveTransformV3``)::

    k = c0 * col + c1 * row + 1
    x = (a0 * col + a1 * row + a2) / k          (the column sampled)
    y = (b0 * col + b1 * row + b2) / k          (the row sampled)

Pixel ``i`` sits at coordinate ``i`` (no half-pixel shift). ``NEAREST`` takes the pixel at the rounded
point (halves to even, as ``torch.round``); ``BILINEAR`` mixes the four pixels around it with weights
``(1 - fy, fy) x (1 - fx, fx)``. A neighbour outside the image is read, along each axis on its own, from
the index that the fill mode maps it to (scipy's ``ndimage`` conventions, those of Keras's backends):

- ``REFLECT``  ``(d c b a | a b c d | d c b a)``: mirrored about the edge of the last pixel;
- ``WRAP``     ``(a b c d | a b c d | a b c d)``;
- ``NEAREST_FILL``  ``(a a a a | a b c d | d d d d)``: the edge pixel;
- ``CONSTANT`` ``(k k k k | a b c d | k k k k)``: ``fill_value`` (with its interpolation weight).

Work is split into tasks of one output row of one image; each output cell is written by one task, so
results do not depend on the number of threads.
"""

import math

from fastconv._jit import helper, kernel
from fastconv.kernels.tasks import first_task, next_task

NEAREST = 0
BILINEAR = 1

REFLECT = 0
WRAP = 1
CONSTANT = 2
NEAREST_FILL = 3


@helper
def _fixed_index(index, size, fill_mode):
    """Where the fill mode reads index ``index`` of an axis of ``size`` pixels; -1 outside with ``CONSTANT``."""
    if 0 <= index < size:
        return index
    if fill_mode == CONSTANT:
        return -1
    if fill_mode == NEAREST_FILL:
        return 0 if index < 0 else size - 1
    if fill_mode == WRAP:
        return ((index % size) + size) % size
    period = 2 * size  # REFLECT
    index = ((index % period) + period) % period
    return index if index < size else period - 1 - index


@helper
def _round_half_even(value):
    lower = math.floor(value)
    fraction = value - lower
    index = int(lower)
    if fraction > 0.5 or (fraction == 0.5 and index % 2 != 0):
        index += 1
    return index


@kernel
def _affine_transform(job, images, transforms, out, interpolation, fill_mode, fill_value):
    """Resample ``images`` ``(N, H, W, C)`` into ``out`` ``(N, H, W, C)`` (overwritten) through ``transforms``
    ``(N, 8)`` (float64)."""
    n_batch, height, width, n_channels = images.shape
    n_tasks = n_batch * height
    task = first_task(job, n_tasks)
    while task < n_tasks:
        n = task // height
        row = task - n * height
        a0, a1, a2, b0, b1, b2, c0, c1 = (transforms[n, 0], transforms[n, 1], transforms[n, 2], transforms[n, 3],
                                          transforms[n, 4], transforms[n, 5], transforms[n, 6], transforms[n, 7])
        for col in range(width):
            k = c0 * col + c1 * row + 1.0
            x = (a0 * col + a1 * row + a2) / k
            y = (b0 * col + b1 * row + b2) / k
            if interpolation == NEAREST:
                iy = _fixed_index(_round_half_even(y), height, fill_mode)
                ix = _fixed_index(_round_half_even(x), width, fill_mode)
                for c in range(n_channels):
                    out[n, row, col, c] = images[n, iy, ix, c] if iy >= 0 and ix >= 0 else fill_value
            else:
                y0f, x0f = math.floor(y), math.floor(x)
                fy, fx = y - y0f, x - x0f
                y0, x0 = int(y0f), int(x0f)
                iy0, iy1 = _fixed_index(y0, height, fill_mode), _fixed_index(y0 + 1, height, fill_mode)
                ix0, ix1 = _fixed_index(x0, width, fill_mode), _fixed_index(x0 + 1, width, fill_mode)
                # A neighbour outside with CONSTANT reads pixel 0 with weight 0; its weight goes to fill_value.
                wy0, wy1 = (1.0 - fy) if iy0 >= 0 else 0.0, fy if iy1 >= 0 else 0.0
                wx0, wx1 = (1.0 - fx) if ix0 >= 0 else 0.0, fx if ix1 >= 0 else 0.0
                w00, w01, w10, w11 = wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1
                filled = 1.0 - (wy0 + wy1) * (wx0 + wx1)
                iy0, iy1, ix0, ix1 = max(iy0, 0), max(iy1, 0), max(ix0, 0), max(ix1, 0)
                constant = filled * fill_value
                for c in range(n_channels):
                    out[n, row, col, c] = (constant + w00 * images[n, iy0, ix0, c] + w01 * images[n, iy0, ix1, c]
                                           + w10 * images[n, iy1, ix0, c] + w11 * images[n, iy1, ix1, c])
        task = next_task(job, task)
