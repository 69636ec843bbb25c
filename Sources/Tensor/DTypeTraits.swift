import CKernels

/// Everything that differs between element types, in one table indexed by ``DType``.
///
/// Adding a type means a row here, its block struct in `CKernels.h` and its kernels (row conversions, a
/// matmul) in the C kernel layer, which the row names by key path into each ISA level's table.
public struct DTypeTraits: @unchecked Sendable {
    public typealias ToFloat = KeyPath<rwkv_kernels, rwkv_to_f32_fn?>
    public typealias FromFloat = KeyPath<rwkv_kernels, rwkv_from_f32_fn?>
    public typealias Matmul = KeyPath<rwkv_kernels, rwkv_matmul_fn?>
    /// Dot product of a weight row of this type with an activation row in ``activationType``; `count` elements.
    public typealias VecDot = @Sendable (UnsafeRawPointer, UnsafeRawPointer, Int) -> Float

    /// Command-line and table name (`f32`, `q4_0`, …).
    public let name: String
    /// The `ggml_type` id used in GGUF tensor infos (nil for in-memory layouts).
    public let ggufTypeID: UInt32?
    /// Elements per block.
    public let blockSize: Int
    /// Bytes per block (the size of its C block struct).
    public let bytesPerBlock: Int
    /// Encoding from f32 and decoding to f32 (nil for ``DType/i32`` and the r8 layouts).
    public let fromFloat: FromFloat?
    public let toFloat: ToFloat?
    /// The type activations are converted to before a matmul with weights of this type
    /// (f32 for float weights, Q8_0 for block weights, as ggml does; Q8_0s for the r8 layouts).
    public let activationType: DType
    /// The matmul kernel for weights of this type (nil: not a weight type).
    public let matmul: Matmul?
    /// Naive vec-dot against activations of ``activationType``: the test oracle (nil for the r8 layouts,
    /// which the reference de-interleaves first).
    public let vecDot: VecDot?
    /// For a layout with 8 rows interleaved: the type of its rows (see ``Tensor/deinterleavedRows()``).
    public var interleavedFrom: DType? = nil

    /// The table, in ``DType`` order.
    public static let table: [DTypeTraits] = [
        DTypeTraits(name: "f32", ggufTypeID: 0, blockSize: 1, bytesPerBlock: 4, fromFloat: \.f32_from_f32, toFloat: \.f32_to_f32,
                    activationType: .f32, matmul: \.matmul_f32, vecDot: ReferenceVecDot.float(size: 4) { $0.loadUnaligned(as: Float.self) }),
        DTypeTraits(name: "f16", ggufTypeID: 1, blockSize: 1, bytesPerBlock: 2, fromFloat: \.f32_to_f16, toFloat: \.f16_to_f32,
                    activationType: .f32, matmul: \.matmul_f16,
                    vecDot: ReferenceVecDot.float(size: 2) { HalfPrecision.f32(fromF16: $0.loadUnaligned(as: UInt16.self)) }),
        DTypeTraits(name: "bf16", ggufTypeID: 30, blockSize: 1, bytesPerBlock: 2, fromFloat: \.f32_to_bf16, toFloat: \.bf16_to_f32,
                    activationType: .f32, matmul: \.matmul_bf16,
                    vecDot: ReferenceVecDot.float(size: 2) { HalfPrecision.f32(fromBF16: $0.loadUnaligned(as: UInt16.self)) }),
        DTypeTraits(name: "q8_0", ggufTypeID: 8, blockSize: 32, bytesPerBlock: MemoryLayout<rwkv_block_q8_0>.size,
                    fromFloat: \.f32_to_q8_0, toFloat: \.q8_0_to_f32, activationType: .q8_0, matmul: \.matmul_q8_0,
                    vecDot: ReferenceVecDot.q8_0),
        DTypeTraits(name: "q4_0", ggufTypeID: 2, blockSize: 32, bytesPerBlock: MemoryLayout<rwkv_block_q4_0>.size,
                    fromFloat: \.f32_to_q4_0, toFloat: \.q4_0_to_f32, activationType: .q8_0, matmul: \.matmul_q4_0,
                    vecDot: ReferenceVecDot.q4_0),
        DTypeTraits(name: "i32", ggufTypeID: 26, blockSize: 1, bytesPerBlock: 4, fromFloat: nil, toFloat: nil,
                    activationType: .i32, matmul: nil, vecDot: nil),
        DTypeTraits(name: "q8_0r8", ggufTypeID: nil, blockSize: 32, bytesPerBlock: MemoryLayout<rwkv_block_q8_0>.size,
                    fromFloat: nil, toFloat: nil, activationType: .q8_0s, matmul: \.matmul_q8_0r8, vecDot: nil, interleavedFrom: .q8_0),
        DTypeTraits(name: "q4_0r8", ggufTypeID: nil, blockSize: 32, bytesPerBlock: MemoryLayout<rwkv_block_q4_0>.size,
                    fromFloat: nil, toFloat: nil, activationType: .q8_0s, matmul: \.matmul_q4_0r8, vecDot: nil, interleavedFrom: .q4_0),
        DTypeTraits(name: "q8_0s", ggufTypeID: nil, blockSize: 32, bytesPerBlock: MemoryLayout<rwkv_block_q8_0s>.size,
                    fromFloat: \.f32_to_q8_0s, toFloat: \.q8_0s_to_f32, activationType: .q8_0s, matmul: nil, vecDot: nil),
    ]
}

extension DType {
    /// Encodes `count` floats (a multiple of the block size) into this type, with the current kernels.
    public func encode(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer, count: Int) {
        Kernels.current[traits.fromFloat!]!(source, destination, Int64(count))
    }

    /// Decodes `count` values of this type to floats, with the current kernels.
    public func decode(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.current[traits.toFloat!]!(source, destination, Int64(count))
    }
}

/// Naive dot products of one weight row with one activation row: the oracle for the fast kernels.
/// Each sums in element (or block) order with one f32 accumulator.
public enum ReferenceVecDot {
    /// A float weight type of `size`-byte elements, element `i` being `value(w + i · size)`, against f32
    /// activations.
    static func float(size: Int, _ value: @escaping @Sendable (UnsafeRawPointer) -> Float) -> DTypeTraits.VecDot {
        { w, x, n in
            var sum: Float = 0
            for i in 0..<n { sum += value(w + i * size) * x.load(fromByteOffset: i * 4, as: Float.self) }
            return sum
        }
    }

    /// The f32 value of a block's f16 scale.
    static func scale(_ block: UnsafeRawPointer) -> Float { HalfPrecision.f32(fromF16: block.loadUnaligned(as: UInt16.self)) }

    static let q8_0Bytes = MemoryLayout<rwkv_block_q8_0>.size, q4_0Bytes = MemoryLayout<rwkv_block_q4_0>.size

    /// Q8_0 weights · Q8_0 activations: exact integer block sums scaled by `d_w · d_a`.
    public static let q8_0: DTypeTraits.VecDot = { w, x, n in
        var sum: Float = 0
        for block in 0..<(n / 32) {
            let wb = w + block * q8_0Bytes, xb = x + block * q8_0Bytes
            let wq = (wb + 2).assumingMemoryBound(to: Int8.self), xq = (xb + 2).assumingMemoryBound(to: Int8.self)
            var sumi: Int32 = 0
            for j in 0..<32 { sumi += Int32(wq[j]) * Int32(xq[j]) }
            sum += Float(sumi) * (scale(wb) * scale(xb))
        }
        return sum
    }

    /// Q4_0 weights · Q8_0 activations.
    public static let q4_0: DTypeTraits.VecDot = { w, x, n in
        var sum: Float = 0
        for block in 0..<(n / 32) {
            let wb = w + block * q4_0Bytes, xb = x + block * q8_0Bytes
            let wq = (wb + 2).assumingMemoryBound(to: UInt8.self), xq = (xb + 2).assumingMemoryBound(to: Int8.self)
            var sumi: Int32 = 0
            for j in 0..<16 {
                sumi += (Int32(wq[j] & 0x0F) - 8) * Int32(xq[j])
                sumi += (Int32(wq[j] >> 4) - 8) * Int32(xq[j + 16])
            }
            sum += Float(sumi) * scale(wb) * scale(xb)
        }
        return sum
    }
}
