"""TensorBoard event files, written without TensorFlow: what ``keras.callbacks.TensorBoard`` logs.

An event file is a sequence of records (TFRecord framing: the length, its
masked CRC-32C, the bytes, their masked CRC-32C), each a serialized
``tensorflow.Event`` protocol buffer; the first holds the file version
``brain.Event:2``, the others a ``Summary`` of tagged tensors with their
plugin's metadata, as TensorFlow 2's ``tf.summary.scalar``, ``histogram`` and
Keras's model summary write them, so that TensorBoard (``tensorboard --logdir
logs``) shows them as it shows Keras's. The few protocol-buffer fields needed
are encoded here by hand (field numbers from TensorFlow's ``event.proto``,
``summary.proto``, ``tensor.proto`` and ``tensor_shape.proto``).

>>> import tempfile
>>> writer = EventFileWriter(tempfile.mkdtemp())
>>> writer.scalars([("epoch_loss", 0.5)], step=0)
>>> os.path.basename(writer.path).startswith("events.out.tfevents.")
True
"""

import itertools
import os
import socket
import struct
import time

import numpy as np

HISTOGRAM_BUCKETS = 30
"""Buckets of a histogram summary (TensorBoard's default)."""

_SCALAR, _TENSOR, _BLOB_SEQUENCE = 1, 2, 3  # SummaryMetadata's DataClass
_DT_FLOAT, _DT_DOUBLE, _DT_STRING = 1, 2, 7  # TensorProto's DataType
_writers = itertools.count()  # numbers the files of this process, as TensorFlow's writers do


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """The CRC-32C (Castagnoli) of ``data`` (bytes).

    >>> hex(crc32c(b"123456789"))  # the standard check value
    '0xe3069283'
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data):
    """``data`` framed as one TFRecord: length, its masked CRC, the bytes, their masked CRC."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


# ----------------------------------------------------------------------------- protocol buffers


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64s as their two's complement
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):
    """A length-delimited field (a string, bytes or an embedded message)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int_field(number, value):
    return _varint(number << 3) + _varint(value)


def _tensor(array):
    """A ``TensorProto`` of a float32, float64 or bytes-object numpy array."""
    shape = b"".join(_field(2, _int_field(1, size)) for size in array.shape)  # TensorShapeProto.dim
    if array.dtype == object:
        body = _int_field(1, _DT_STRING) + _field(2, shape) + b"".join(_field(8, value) for value in array.flat)
    else:
        dtype = _DT_FLOAT if array.dtype == np.float32 else _DT_DOUBLE
        content = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()  # C order, little-endian
        body = _int_field(1, dtype) + _field(2, shape) + _field(4, content)
    return body


def _summary_value(tag, array, plugin, content, data_class):
    metadata = _field(1, _field(1, plugin.encode()) + (_field(2, content) if content else b""))
    metadata += _int_field(4, data_class)
    return _field(1, _field(1, tag.encode()) + _field(9, metadata) + _field(8, _tensor(array)))


def _event(step, payload, wall_time=None):
    wall_time = time.time() if wall_time is None else wall_time
    return b"\x09" + struct.pack("<d", wall_time) + _int_field(2, step) + payload


# ----------------------------------------------------------------------------- summaries


def histogram_buckets(values, buckets=HISTOGRAM_BUCKETS):
    """``(buckets, 3)`` float64 rows ``[left, right, count]`` of ``values`` as TensorBoard's histogram summary
    makes them: equal buckets from the minimum to the maximum (a value on an inner edge goes to the bucket on
    its right, the maximum to the last); all values equal: every edge that value, the count in the last
    bucket; no values: zeros.

    >>> histogram_buckets(np.array([0.0, 1.0, 1.0, 3.0]), buckets=3).tolist()
    [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 3.0, 1.0]]
    """
    data = np.asarray(values, np.float64).ravel()
    out = np.zeros((buckets, 3))
    if not data.size or not buckets:
        return out
    low, high = data.min(), data.max()
    if low == high:
        out[:, :2] = high
        out[-1, 2] = data.size
        return out
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN or infinite weights: edges NaN or infinite,
        width = (high - low) / buckets                   # and the values without a bucket not counted
        index = np.floor((data - low) / width)
        edges = np.linspace(low, high, buckets + 1)
    counted = index[np.isfinite(index) & (index >= 0)]
    edges[-1] = high
    out[:, 0], out[:, 1] = edges[:-1], edges[1:]
    out[:, 2] = np.bincount(np.minimum(counted, buckets - 1).astype(np.int64), minlength=buckets)
    return out


class EventFileWriter:
    """Appends summaries to a new event file in ``log_dir`` (made if missing), named as TensorFlow names its
    own (``events.out.tfevents.<time>.<host>.<pid>.<n>.v2``). Each call writes its records and closes the
    file again, so that what was logged is on disk (and TensorBoard sees it) while training goes on."""

    def __init__(self, log_dir):
        os.makedirs(log_dir, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.{next(_writers)}.v2"
        self.path = os.path.join(log_dir, name)
        self._write([_event(0, _field(3, b"brain.Event:2"), now)])

    def _write(self, events):
        with open(self.path, "ab") as f:
            f.write(b"".join(record(event) for event in events))

    def scalars(self, values, step):
        """Write each ``(tag, value)`` of ``values`` as a float32 scalar summary (``tf.summary.scalar``) at
        ``step``, in order."""
        self._write([_event(step, _field(5, _summary_value(tag, np.array(value, np.float32), "scalars", b"",
                                                             _SCALAR)))
                     for tag, value in values])

    def histograms(self, values, step):
        """Write each ``(tag, array)`` of ``values`` as a histogram summary (``tf.summary.histogram``, of
        :func:`histogram_buckets`) at ``step``."""
        self._write([_event(step, _field(5, _summary_value(tag, histogram_buckets(array), "histograms", b"",
                                                             _TENSOR)))
                     for tag, array in values])

    def model_config(self, json_text, step=0):
        """Write a model's JSON configuration as Keras's ``keras_model_summary`` does (tag ``keras``), which
        TensorBoard's graph dashboard draws as the model's conceptual graph."""
        array = np.array([json_text.encode()], dtype=object)
        self._write([_event(step, _field(5, _summary_value("keras", array, "graph_keras_model", b"1",
                                                             _BLOB_SEQUENCE)))])
