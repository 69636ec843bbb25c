import CKernels

/// Everything that differs between element types, in one table indexed by ``DType``.
///
/// Adding a type means adding a row here and its kernels in one file.
public struct DTypeTraits: Sendable {
    /// Converts `count` floats into this type's encoding.
    public typealias QuantizeRow = @Sendable (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void
    /// Converts `count` values of this type to floats.
    public typealias DequantizeRow = @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void
    /// Dot product of a weight row of this type with an activation row in ``activationType``; `count` elements.
    public typealias VecDot = @Sendable (UnsafeRawPointer, UnsafeRawPointer, Int) -> Float

    /// Command-line and table name (`f32`, `q4_0`, …).
    public let name: String
    /// The `ggml_type` id used in GGUF tensor infos (nil for in-memory layouts).
    public let ggufTypeID: UInt32?
    /// Elements per block.
    public let blockSize: Int
    /// Bytes per block.
    public let bytesPerBlock: Int
    /// Encoding from f32 (nil for ``DType/i32``).
    public let quantizeRow: QuantizeRow?
    /// Decoding to f32 (nil for ``DType/i32``).
    public let dequantizeRow: DequantizeRow?
    /// The type activations are converted to before a vec-dot with weights of this type
    /// (f32 for float weights, Q8_0 for quantized weights, as ggml does).
    public let activationType: DType
    /// Reference vec-dot against activations of ``activationType`` (nil where no matmul is defined).
    public let vecDot: VecDot?
    /// For a layout with 8 rows interleaved: the type of its rows (row-wise quantize, dequantize and vec-dot
    /// are then nil; see ``Tensor/deinterleavedRows()``).
    public var interleavedFrom: DType? = nil

    /// The table, in ``DType`` order.
    public static let table: [DTypeTraits] = [
        DTypeTraits(
            name: "f32", ggufTypeID: 0, blockSize: 1, bytesPerBlock: 4,
            quantizeRow: { src, dst, n in dst.copyMemory(from: src, byteCount: n * 4) },
            dequantizeRow: { src, dst, n in UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4) },
            activationType: .f32, vecDot: ReferenceVecDot.f32),
        DTypeTraits(
            name: "f16", ggufTypeID: 1, blockSize: 1, bytesPerBlock: 2,
            quantizeRow: { src, dst, n in HalfPrecision.f32ToF16(src, dst.assumingMemoryBound(to: UInt16.self), count: n) },
            dequantizeRow: { src, dst, n in HalfPrecision.f16ToF32(src.assumingMemoryBound(to: UInt16.self), dst, count: n) },
            activationType: .f32, vecDot: ReferenceVecDot.f16),
        DTypeTraits(
            name: "bf16", ggufTypeID: 30, blockSize: 1, bytesPerBlock: 2,
            quantizeRow: { src, dst, n in HalfPrecision.f32ToBF16(src, dst.assumingMemoryBound(to: UInt16.self), count: n) },
            dequantizeRow: { src, dst, n in HalfPrecision.bf16ToF32(src.assumingMemoryBound(to: UInt16.self), dst, count: n) },
            activationType: .f32, vecDot: ReferenceVecDot.bf16),
        DTypeTraits(
            name: "q8_0", ggufTypeID: 8, blockSize: 32, bytesPerBlock: 34,
            quantizeRow: { src, dst, n in BlockQuantization.quantizeQ8_0(src, dst, count: n) },
            dequantizeRow: { src, dst, n in BlockQuantization.dequantizeQ8_0(src, dst, count: n) },
            activationType: .q8_0, vecDot: ReferenceVecDot.q8_0),
        DTypeTraits(
            name: "q4_0", ggufTypeID: 2, blockSize: 32, bytesPerBlock: 18,
            quantizeRow: { src, dst, n in BlockQuantization.quantizeQ4_0(src, dst, count: n) },
            dequantizeRow: { src, dst, n in BlockQuantization.dequantizeQ4_0(src, dst, count: n) },
            activationType: .q8_0, vecDot: ReferenceVecDot.q4_0),
        DTypeTraits(
            name: "i32", ggufTypeID: 26, blockSize: 1, bytesPerBlock: 4,
            quantizeRow: nil, dequantizeRow: nil, activationType: .i32, vecDot: nil),
        DTypeTraits(
            name: "q8_0r8", ggufTypeID: nil, blockSize: 32, bytesPerBlock: 34,
            quantizeRow: nil, dequantizeRow: nil, activationType: .q8_0s, vecDot: nil, interleavedFrom: .q8_0),
        DTypeTraits(
            name: "q4_0r8", ggufTypeID: nil, blockSize: 32, bytesPerBlock: 18,
            quantizeRow: nil, dequantizeRow: nil, activationType: .q8_0s, vecDot: nil, interleavedFrom: .q4_0),
        DTypeTraits(
            name: "q8_0s", ggufTypeID: nil, blockSize: 32, bytesPerBlock: 40,
            quantizeRow: { src, dst, n in rwkv_quantize_row_q8_0s(src, dst, Int64(n)) },
            dequantizeRow: { src, dst, n in BlockQuantization.dequantizeQ8_0s(src, dst, count: n) },
            activationType: .q8_0s, vecDot: nil),
    ]
}

/// Naive dot products of one weight row with one activation row: the oracle for the fast kernels.
/// Each sums in element (or block) order with one f32 accumulator.
public enum ReferenceVecDot {
    public static let f32: DTypeTraits.VecDot = { w, x, n in
        let a = w.assumingMemoryBound(to: Float.self), b = x.assumingMemoryBound(to: Float.self)
        var sum: Float = 0
        for i in 0..<n { sum += a[i] * b[i] }
        return sum
    }

    public static let f16: DTypeTraits.VecDot = { w, x, n in
        let a = w.assumingMemoryBound(to: UInt16.self), b = x.assumingMemoryBound(to: Float.self)
        var sum: Float = 0
        for i in 0..<n { sum += HalfPrecision.f32(fromF16: a[i]) * b[i] }
        return sum
    }

    public static let bf16: DTypeTraits.VecDot = { w, x, n in
        let a = w.assumingMemoryBound(to: UInt16.self), b = x.assumingMemoryBound(to: Float.self)
        var sum: Float = 0
        for i in 0..<n { sum += HalfPrecision.f32(fromBF16: a[i]) * b[i] }
        return sum
    }

    /// Q8_0 weights · Q8_0 activations: exact integer block sums scaled by `d_w · d_a`.
    public static let q8_0: DTypeTraits.VecDot = { w, x, n in
        var sum: Float = 0
        for block in 0..<(n / 32) {
            let wb = w + block * 34, xb = x + block * 34
            let wq = (wb + 2).assumingMemoryBound(to: Int8.self), xq = (xb + 2).assumingMemoryBound(to: Int8.self)
            var sumi: Int32 = 0
            for j in 0..<32 { sumi += Int32(wq[j]) * Int32(xq[j]) }
            sum += Float(sumi) * (BlockQuantization.scale(wb) * BlockQuantization.scale(xb))
        }
        return sum
    }

    /// Q4_0 weights · Q8_0 activations.
    public static let q4_0: DTypeTraits.VecDot = { w, x, n in
        var sum: Float = 0
        for block in 0..<(n / 32) {
            let wb = w + block * 18, xb = x + block * 34
            let wq = (wb + 2).assumingMemoryBound(to: UInt8.self), xq = (xb + 2).assumingMemoryBound(to: Int8.self)
            var sumi: Int32 = 0
            for j in 0..<16 {
                sumi += (Int32(wq[j] & 0x0F) - 8) * Int32(xq[j])
                sumi += (Int32(wq[j] >> 4) - 8) * Int32(xq[j + 16])
            }
            sum += Float(sumi) * BlockQuantization.scale(wb) * BlockQuantization.scale(xb)
        }
        return sum
    }
}
