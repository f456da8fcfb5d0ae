"""Explicit SIMD values for numba kernels: a vector type and the operations the convolution and pooling kernels need.

numba has no vector type of its own, and LLVM will not keep an accumulator
tile in registers when it lives in an array (numba cannot prove that the
array does not alias the kernel's other arrays). Here a :class:`Vector` is an
LLVM ``<LANES x float>`` (or ``<LANES x double>``) value with a primitive data
model, so a local variable of this type is an SSA value that LLVM keeps in a
register, and each operation below is an ``@intrinsic`` that emits one LLVM
instruction (a load, a store, a broadcast, ``llvm.fmuladd``...).

The number of lanes is a property of the array's dtype, chosen once from the
CPU that numba compiles for (the host's, or the one ``NUMBA_CPU_NAME`` and
``NUMBA_CPU_FEATURES`` name): 512-bit vectors with AVX-512, 256-bit with AVX2
(or AVX), 128-bit otherwise (16, 8 or 4 float32 lanes; half as many float64
lanes). numba's cache is keyed on that CPU's name and features, so machine
code cached for one width is never loaded for a target that would choose
another.

Memory operations take a C-contiguous array of any number of dimensions and a
flat element offset into it. They do not check bounds (not even under
``NUMBA_BOUNDSCHECK=1``): the kernels that use them compute their offsets
from shapes that ``fastconv.ops`` has checked, and the tests compare those
kernels against the reference on shapes that exercise every tail.

Nothing here validates or allocates; the only things exported are the
operations below, :data:`VECTOR_BITS`, :data:`VECTOR_REGISTERS` and :func:`lanes`.
"""

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, codegen, config
from numba.extending import intrinsic, models, register_model


def _target_vector_bits():
    """Width of the widest vector registers of the CPU that numba compiles for.

    That CPU is the host's unless ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``
    name another (``generic`` for a portable cache, say) or ``NUMBA_ENABLE_AVX=0``
    turns AVX off. LLVM is asked directly: it compiles a function that adds two
    512-bit vectors for that CPU, and the registers its code uses tell the width.
    """
    cpu_name = config.CPU_NAME or llvm.get_host_cpu_name()
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else codegen.get_host_cpu_features()
    target = llvm.Target.from_default_triple().create_target_machine(cpu=cpu_name, features=features, opt=1)
    module = llvm.parse_assembly(
        "define void @add(<16 x float>* %a, <16 x float>* %b) {\n"
        "  %x = load <16 x float>, <16 x float>* %a\n  %y = load <16 x float>, <16 x float>* %b\n"
        "  %z = fadd <16 x float> %x, %y\n  store <16 x float> %z, <16 x float>* %a\n  ret void\n}\n")
    assembly = target.emit_assembly(module)
    for register, bits in (("%zmm", 512), ("%ymm", 256)):
        if register in assembly:
            return bits
    return 128


VECTOR_BITS = _target_vector_bits()
"""Width in bits of the vectors the tiles use on the target CPU (512 with AVX-512, 256 with AVX2)."""

VECTOR_REGISTERS = 16 if VECTOR_BITS < 512 and llvm.get_process_triple().startswith("x86_64") else 32
"""Vector registers of the target CPU: 32 with AVX-512 (and on 64-bit ARM), 16 with AVX2 or SSE. It bounds
how many accumulators a register tile can hold, so it picks the tile set (``conv2d_tiles.py``)."""


def lanes(dtype):
    """Number of ``dtype`` elements in one vector on this CPU (16 float32 lanes with AVX-512)."""
    return VECTOR_BITS // (8 * np.dtype(dtype).itemsize)


class Vector(types.Type):
    """numba type of a SIMD vector of ``width`` elements of the numba scalar type ``dtype``."""

    def __init__(self, dtype, width):
        self.dtype = dtype
        self.width = width
        super().__init__(name=f"Vector({dtype}, {width})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.width))


def _vector_of(dtype):
    """The :class:`Vector` type for numba scalar type ``dtype``, or None if it is not float32/float64."""
    if dtype not in (types.float32, types.float64):
        return None
    return Vector(dtype, VECTOR_BITS // dtype.bitwidth)


def _contiguous_float_array(arr):
    return isinstance(arr, types.Array) and arr.layout == "C" and _vector_of(arr.dtype) is not None


def _element_pointer(context, builder, array_type, array, offset, offset_type):
    """Pointer to element ``offset`` (flat) of a C-contiguous array."""
    data = context.make_array(array_type)(context, builder, array).data
    offset = context.cast(builder, offset, offset_type, types.intp)
    return builder.gep(data, [offset], inbounds=True)


def _vector_pointer(context, builder, vector_type, pointer):
    return builder.bitcast(pointer, context.get_value_type(vector_type).as_pointer())


def _lane_mask(builder, vector_type, count):
    """``<i1 x LANES>`` mask whose lanes ``0 .. count-1`` are set (``count`` an intp, any value)."""
    width = vector_type.width
    index_type = ir.IntType(64)
    iota = ir.Constant(ir.VectorType(index_type, width), [ir.Constant(index_type, i) for i in range(width)])
    count = builder.sext(count, index_type) if count.type.width < 64 else count
    splat = _splat(builder, count, width)
    return builder.icmp_signed("<", iota, splat)


def _splat(builder, scalar, width):
    vector_type = ir.VectorType(scalar.type, width)
    one = builder.insert_element(ir.Constant(vector_type, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width)
    return builder.shuffle_vector(one, ir.Constant(vector_type, ir.Undefined), zeros)


def _alignment(vector_type):
    return vector_type.dtype.bitwidth // 8


# ----------------------------------------------------------------------------- typing helpers


@intrinsic
def lanes_of(typingctx, arr):
    """Number of lanes of the vectors ``vload(arr, ...)`` returns: a compile-time constant."""
    if not _contiguous_float_array(arr):
        return None
    width = _vector_of(arr.dtype).width

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, width)

    return types.intp(arr), codegen


# ----------------------------------------------------------------------------- memory


@intrinsic
def vload(typingctx, arr, offset):
    """The vector ``arr.flat[offset : offset + LANES]`` (unaligned load)."""
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer)):
        return None
    vector = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        return builder.load(_vector_pointer(context, builder, vector, pointer), align=_alignment(vector))

    return vector(arr, offset), codegen


@intrinsic
def vload_first(typingctx, arr, offset, count):
    """``arr.flat[offset : offset + n]`` with ``n = clip(count, 0, LANES)`` in the first lanes, zeros after.

    A masked load: memory at or after lane ``count`` is not read, so a loop
    over the channels can end inside a row (or the array) whose length is not
    a multiple of the vector width.
    """
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer) and isinstance(count, types.Integer)):
        return None
    vector = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        vector_pointer = _vector_pointer(context, builder, vector, pointer)
        mask = _lane_mask(builder, vector, context.cast(builder, args[2], sig.args[2], types.intp))
        vector_type = context.get_value_type(vector)
        fnty = ir.FunctionType(vector_type, [vector_pointer.type, ir.IntType(32), mask.type, vector_type])
        load = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.load.{_mangle(vector_type)}.p0")
        alignment = ir.Constant(ir.IntType(32), _alignment(vector))
        return builder.call(load, [vector_pointer, alignment, mask, ir.Constant(vector_type, None)])

    return vector(arr, offset, count), codegen


@intrinsic
def vbroadcast(typingctx, arr, offset):
    """A vector with every lane equal to ``arr.flat[offset]``."""
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer)):
        return None
    vector = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        return _splat(builder, builder.load(pointer, align=_alignment(vector)), vector.width)

    return vector(arr, offset), codegen


@intrinsic
def vbroadcast_run(typingctx, arr, offset, run):
    """A vector of ``arr.flat[offset : offset + run]`` repeated: lane ``i`` is ``arr.flat[offset + i % run]``
    (``run`` a constant that divides the vector width: one broadcast load of ``run`` elements; at the
    vector width, a plain load)."""
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer)
            and isinstance(run, types.IntegerLiteral)):
        return None
    vector = _vector_of(arr.dtype)
    length = run.literal_value
    if not (0 < length <= vector.width and vector.width % length == 0):
        return None

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        element = context.get_value_type(vector.dtype)
        run_type = ir.VectorType(element, length)
        values = builder.load(builder.bitcast(pointer, run_type.as_pointer()), align=_alignment(vector))
        lanes = ir.Constant(ir.VectorType(ir.IntType(32), vector.width), [i % length for i in range(vector.width)])
        return builder.shuffle_vector(values, ir.Constant(run_type, ir.Undefined), lanes)

    return vector(arr, offset, run), codegen


@intrinsic
def vstore(typingctx, arr, offset, value):
    """``arr.flat[offset : offset + LANES] = value``."""
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer) and value == _vector_of(arr.dtype)):
        return None

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        builder.store(args[2], _vector_pointer(context, builder, value, pointer), align=_alignment(value))
        return context.get_dummy_value()

    return types.none(arr, offset, value), codegen


@intrinsic
def vstore_first(typingctx, arr, offset, value, count):
    """``arr.flat[offset : offset + n] = value[:n]`` with ``n = clip(count, 0, LANES)`` (a masked store).

    Lanes at or after ``count`` are not touched in memory, so a tile can end
    inside a row whose length is not a multiple of the vector width. With
    ``count >= LANES`` it is a plain store: masked stores are slow on some
    CPUs (AVX2's ``vmaskmovps``), and most stores of a kernel are whole vectors.
    """
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer)
            and value == _vector_of(arr.dtype) and isinstance(count, types.Integer)):
        return None
    return types.none(arr, offset, value, count), _store_first


def _store_first(context, builder, sig, args):
    """The code of :func:`vstore_first` (whose first four arguments ``sig`` and ``args`` start with)."""
    value = sig.args[2]
    pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
    vector_pointer = _vector_pointer(context, builder, value, pointer)
    count_value = context.cast(builder, args[3], sig.args[3], types.intp)
    whole = builder.icmp_signed(">=", count_value, ir.Constant(count_value.type, value.width))
    with builder.if_else(whole, likely=True) as (then, otherwise):
        with then:
            builder.store(args[2], vector_pointer, align=_alignment(value))
        with otherwise:
            mask = _lane_mask(builder, value, count_value)
            vector_type = args[2].type
            fnty = ir.FunctionType(ir.VoidType(), [vector_type, vector_pointer.type, ir.IntType(32), mask.type])
            name = f"llvm.masked.store.{_mangle(vector_type)}.p0"
            store = cgutils.get_or_insert_function(builder.module, fnty, name)
            builder.call(store, [args[2], vector_pointer, ir.Constant(ir.IntType(32), _alignment(value)), mask])
    return context.get_dummy_value()


@intrinsic
def vstore_stream(typingctx, arr, offset, value, count, stream):
    """:func:`vstore_first`, or with ``stream`` true, for a whole vector at an address that is a multiple of
    the vector's size, a non-temporal store: written to memory without first reading the cache line (a store
    to a line that is not in the cache reads it from memory first) and without keeping it in the caches. For
    outputs larger than the caches, which would go back to memory anyway, written in whole lines: the memory
    traffic of writing them halves (lines written partly this way and partly through the caches are far
    slower). Other threads see these stores only after :func:`store_fence`.

    ``stream`` is None (the plain :func:`vstore_first`, nothing more compiled) or a bool (tested at run time).
    """
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer) and value == _vector_of(arr.dtype)
            and isinstance(count, types.Integer) and isinstance(stream, (types.NoneType, types.Boolean))):
        return None
    def codegen(context, builder, sig, args):
        if isinstance(sig.args[4], types.NoneType):
            return _store_first(context, builder, sig, args)
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        size = value.width * value.dtype.bitwidth // 8
        address = builder.ptrtoint(pointer, ir.IntType(64))
        aligned = builder.icmp_unsigned("==", builder.and_(address, ir.Constant(ir.IntType(64), size - 1)),
                                        ir.Constant(ir.IntType(64), 0))
        count_value = context.cast(builder, args[3], sig.args[3], types.intp)
        whole = builder.icmp_signed(">=", count_value, ir.Constant(count_value.type, value.width))
        streamed = builder.and_(builder.and_(aligned, whole), args[4])
        with builder.if_else(streamed) as (then, otherwise):
            with then:
                store = builder.store(args[2], _vector_pointer(context, builder, value, pointer), align=size)
                store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
            with otherwise:
                _store_first(context, builder, sig, args)
        return context.get_dummy_value()

    return types.none(arr, offset, value, count, stream), codegen


@intrinsic
def prefetch(typingctx, arr, offset):
    """A hint to fetch the cache line that holds ``arr.flat[offset]`` into the L2 cache (``prefetcht1`` on
    x86): for data a kernel reads soon in a pattern that the CPU's own prefetchers do not follow. Only a hint,
    but ``offset`` must lie within ``arr``."""
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        pointer = builder.bitcast(_element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1]),
                                  ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32])
        hint = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, locality 2 (the L2 cache), data
        builder.call(hint, [pointer, ir.Constant(i32, 0), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(arr, offset), codegen


@intrinsic
def store_fence(typingctx):
    """Order this thread's :func:`vstore_stream` stores before its later stores (``sfence`` on x86; a release
    fence elsewhere), such as the count of tasks done that tells other threads the results are there."""

    def codegen(context, builder, sig, args):
        if builder.module.triple.startswith(("x86_64", "i386", "i686")):
            fence = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                   "llvm.x86.sse.sfence")
            builder.call(fence, [])
        else:
            builder.fence("release")
        return context.get_dummy_value()

    return types.none(), codegen


def _mangle(vector_type):
    element = {"float": "f32", "double": "f64"}[str(vector_type.element)]
    return f"v{vector_type.count}{element}"


# ----------------------------------------------------------------------------- arithmetic


@intrinsic
def vzeros(typingctx, arr):
    """A vector of zeros of ``arr``'s dtype (``arr`` only names the dtype)."""
    if not _contiguous_float_array(arr):
        return None
    vector = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vector), None)

    return vector(arr), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane: one fused multiply-add where the target CPU has them, else a multiply and
    an add (``llvm.fmuladd``).

    ``llvm.fma`` would promise one rounding on every CPU, and LLVM keeps that
    promise on a CPU without FMA instructions (``NUMBA_CPU_NAME=generic``, SSE2)
    by calling the C library's ``fmaf`` for each lane: compiled that way, the
    textbook CNN's second convolution took 84 ms instead of 4.6 ms (batch 32,
    2 threads), its Dense layer 7.7 instead of 0.35. On CPUs with FMA the code
    is the same either way. The rounding of a result can therefore differ
    between CPUs with and without FMA (as its last bits differ between vector
    widths already); on one CPU and one setting it never changes.
    """
    if not (isinstance(a, Vector) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        vector_type = args[0].type
        fnty = ir.FunctionType(vector_type, [vector_type] * 3)
        fmuladd = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.fmuladd.{_mangle(vector_type)}")
        return builder.call(fmuladd, args)

    return a(a, b, c), codegen


@intrinsic
def vadd(typingctx, a, b):
    """``a + b`` lane by lane."""
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(*args)

    return a(a, b), codegen


@intrinsic
def vmul(typingctx, a, b):
    """``a * b`` lane by lane."""
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fmul(*args)

    return a(a, b), codegen


@intrinsic
def vrelu(typingctx, a):
    """``0`` where ``a < 0``, else ``a`` (NaN stays NaN and -0.0 stays -0.0, as in the scalar kernels)."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        zero = ir.Constant(args[0].type, None)
        return builder.select(builder.fcmp_ordered("<", args[0], zero), zero, args[0])

    return a(a), codegen


@intrinsic
def vrelu_floor(typingctx, arr, relu):
    """The floor of :func:`vclamp_below` for an optional ReLU, of ``arr``'s dtype: zeros where ``relu`` is
    true (the ReLU), else ``-inf`` (no change)."""
    if not (_contiguous_float_array(arr) and isinstance(relu, types.Boolean)):
        return None
    vector = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(vector)
        minus_inf = ir.Constant(vector_type, [ir.Constant(vector_type.element, float("-inf"))] * vector_type.count)
        return builder.select(args[1], ir.Constant(vector_type, None), minus_inf)

    return vector(arr, relu), codegen


@intrinsic
def vclamp_below(typingctx, a, floor):
    """``floor`` where ``a < floor``, else ``a``. With :func:`vrelu_floor`'s floor, :func:`vrelu` or nothing
    without a branch (NaN stays NaN, -0.0 stays -0.0; nothing is below ``-inf``)."""
    if not (isinstance(a, Vector) and a == floor):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered("<", args[0], args[1]), args[1], args[0])

    return a(a, floor), codegen


@intrinsic
def vselect_positive(typingctx, value, key):
    """``value`` where ``key > 0``, else ``0`` (the ReLU mask: NaN keys give 0, as ``not out > 0`` does)."""
    if not (isinstance(value, Vector) and value == key):
        return None

    def codegen(context, builder, sig, args):
        zero = ir.Constant(args[0].type, None)
        return builder.select(builder.fcmp_ordered(">", args[1], zero), args[0], zero)

    return value(value, key), codegen


@intrinsic
def vrelu_grad(typingctx, value, key):
    """``value * (1 where key >= 0, else 0)``: the ReLU's gradient for its input ``key``, as
    ``fastconv.kernels.elementwise._relu_grad`` computes it (``inf * 0`` is NaN; a NaN key gives ``value * 0``)."""
    if not (isinstance(value, Vector) and value == key):
        return None

    def codegen(context, builder, sig, args):
        zero = ir.Constant(args[0].type, None)
        one = ir.Constant(args[0].type, [ir.Constant(args[0].type.element, 1.0)] * args[0].type.count)
        return builder.fmul(args[0], builder.select(builder.fcmp_ordered(">=", args[1], zero), one, zero))

    return value(value, key), codegen


@intrinsic
def vsum(typingctx, a):
    """The sum of the lanes of ``a`` (a fixed tree of additions, the same on every call)."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        vector_type = args[0].type
        element = vector_type.element
        fnty = ir.FunctionType(element, [element, vector_type])
        reduce = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.vector.reduce.fadd.{_mangle(vector_type)}")
        return builder.call(reduce, [ir.Constant(element, -0.0), args[0]], fastmath=("reassoc",))

    return a.dtype(a), codegen


@intrinsic
def vsum_runs(typingctx, a, run):
    """Lane ``i < LANES/run`` is the sum of lanes ``i*run .. (i+1)*run - 1`` of ``a`` (``run`` a constant power
    of two up to the vector width; the other lanes are zero): pairwise, in a fixed order."""
    if not (isinstance(a, Vector) and isinstance(run, types.IntegerLiteral)):
        return None
    length = run.literal_value
    if not (0 < length <= a.width and a.width % length == 0 and length & (length - 1) == 0):
        return None

    def codegen(context, builder, sig, args):
        value = args[0]
        index = ir.IntType(32)
        distance = 1
        while distance < length:  # lane i gets lane i + lane (i ^ distance): each run's lanes all hold its sum
            partner = ir.Constant(ir.VectorType(index, a.width), [i ^ distance for i in range(a.width)])
            swapped = builder.shuffle_vector(value, ir.Constant(value.type, ir.Undefined), partner)
            value = builder.fadd(value, swapped)
            distance *= 2
        # Lane i takes run i's first lane; the rest take a lane of a zero vector.
        lanes = [i * length if i < a.width // length else a.width for i in range(a.width)]
        zeros = ir.Constant(value.type, None)
        return builder.shuffle_vector(value, zeros, ir.Constant(ir.VectorType(index, a.width), lanes))

    return a(a, run), codegen


@intrinsic
def vrepeat_lanes(typingctx, a, run):
    """Lane ``i`` is lane ``i // run`` of ``a``: each of its first ``LANES/run`` lanes repeated ``run`` times
    (``run`` a constant that divides the vector width; one shuffle)."""
    if not (isinstance(a, Vector) and isinstance(run, types.IntegerLiteral)):
        return None
    length = run.literal_value
    if not (0 < length <= a.width and a.width % length == 0):
        return None

    def codegen(context, builder, sig, args):
        lanes = ir.Constant(ir.VectorType(ir.IntType(32), a.width), [i // length for i in range(a.width)])
        return builder.shuffle_vector(args[0], ir.Constant(args[0].type, ir.Undefined), lanes)

    return a(a, run), codegen


@intrinsic
def sstore(typingctx, arr, offset, value):
    """``arr.flat[offset] = value`` for a scalar ``value`` of ``arr``'s dtype."""
    if not (_contiguous_float_array(arr) and isinstance(offset, types.Integer) and value == arr.dtype):
        return None

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1])
        builder.store(args[2], pointer)
        return context.get_dummy_value()

    return types.none(arr, offset, value), codegen


# ----------------------------------------------------------------------------- max pooling


@intrinsic
def vmax(typingctx, a, b):
    """``a`` in lanes where ``a > b``, else ``b`` (so ``b`` where either is NaN: ``maxps``)."""
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">", args[0], args[1]), args[0], args[1])

    return a(a, b), codegen


@intrinsic
def vnan_or(typingctx, a, b):
    """``a`` in lanes where ``a`` is NaN, else ``b``."""
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_unordered("uno", args[0], args[0]), args[0], args[1])

    return a(a, b), codegen


def _is_max(builder, value, best):
    """Lanes where ``value`` is the maximum ``best``: equal, or both NaN."""
    equal = builder.fcmp_ordered("==", value, best)
    both_nan = builder.and_(builder.fcmp_unordered("uno", value, value), builder.fcmp_unordered("uno", best, best))
    return builder.or_(equal, both_nan)


@intrinsic
def vselect_max(typingctx, value, best, result):
    """``result`` in lanes where ``value`` is the maximum ``best`` (equal, or both NaN), else 0."""
    if not (isinstance(value, Vector) and value == best == result):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(_is_max(builder, args[0], args[1]), args[2], ir.Constant(args[2].type, None))

    return value(value, best, result), codegen


@intrinsic
def vselect_not_max(typingctx, value, best, result):
    """0 in lanes where ``value`` is the maximum ``best`` (equal, or both NaN), else ``result``."""
    if not (isinstance(value, Vector) and value == best == result):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(_is_max(builder, args[0], args[1]), ir.Constant(args[2].type, None), args[2])

    return value(value, best, result), codegen

