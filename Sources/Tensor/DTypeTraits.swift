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
    /// rwkv.cpp's own id for the type in its `.bin` files (nil where it has none).
    public var rwkvCppTypeID: UInt32? = nil
    /// llama.cpp's `general.file_type` (llama_ftype) for a file mostly of this type (nil where it has none).
    public var llamaFileType: UInt32? = nil
    /// The type llama-quantize writes instead when a row is not a whole number of blocks (a K-quant's
    /// 32-block stand-in; F16 when that does not fit either, or for a type with none).
    public var fallback: DType? = nil
    /// Whether several-token matmuls of this type run in blocks of 64 rows (F32's BLAS GEMM, whose sums then
    /// do not depend on the thread count; F16/BF16's widened panels, which gather the tokens once per block).
    public var prefillInRowBlocks = false
    /// Whether a weight row's sum for one token can differ with how many tokens the matmul takes (BLAS
    /// blocking, or a decode kernel that splits its accumulators differently from the several-token tiles).
    /// A batched decode then multiplies each sequence's column on its own, to give the bits of that
    /// sequence alone; the r8 and K-quant kernels sum each (row, token) the same way at any token count.
    public var tokenCountChangesSums = true
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
    /// For a type whose sums change with the token count, a kernel that multiplies each of several tokens as
    /// its own one-token product (the bits ``matmul`` gives it alone), reading each row once for all of them:
    /// a batched decode step's matmul.
    public var matmulColumns: Matmul? = nil
    /// Naive vec-dot against activations of ``activationType``: the test oracle (nil for the r8 layouts,
    /// which the reference de-interleaves first).
    public let vecDot: VecDot?
    /// For a layout with 8 rows interleaved: the type of its rows (see ``Tensor/deinterleavedRows()``) and the
    /// C layout that packs them.
    public var interleaving: Interleaving? = nil
    public var interleavedFrom: DType? { interleaving?.rows }

    /// An in-memory layout of 8 interleaved rows of a file type.
    public struct Interleaving: @unchecked Sendable {
        public let rows: DType
        let layout: rwkv_r8_layout
    }

    /// The table, in ``DType`` order.
    public static let table: [DTypeTraits] = [
        DTypeTraits(name: "f32", ggufTypeID: 0, rwkvCppTypeID: 0, llamaFileType: 0, prefillInRowBlocks: true, blockSize: 1, bytesPerBlock: 4, fromFloat: \.f32_from_f32, toFloat: \.f32_to_f32,
                    activationType: .f32, matmul: \.matmul_f32, matmulColumns: \.matmul_f32_columns, vecDot: ReferenceVecDot.float(size: 4) { $0.loadUnaligned(as: Float.self) }),
        DTypeTraits(name: "f16", ggufTypeID: 1, rwkvCppTypeID: 1, llamaFileType: 1, prefillInRowBlocks: true, blockSize: 1, bytesPerBlock: 2, fromFloat: \.f32_to_f16, toFloat: \.f16_to_f32,
                    activationType: .f32, matmul: \.matmul_f16, matmulColumns: \.matmul_f16_columns,
                    vecDot: ReferenceVecDot.float(size: 2) { HalfPrecision.f32(fromF16: $0.loadUnaligned(as: UInt16.self)) }),
        DTypeTraits(name: "bf16", ggufTypeID: 30, llamaFileType: 32, prefillInRowBlocks: true, blockSize: 1, bytesPerBlock: 2, fromFloat: \.f32_to_bf16, toFloat: \.bf16_to_f32,
                    activationType: .f32, matmul: \.matmul_bf16, matmulColumns: \.matmul_bf16_columns,
                    vecDot: ReferenceVecDot.float(size: 2) { HalfPrecision.f32(fromBF16: $0.loadUnaligned(as: UInt16.self)) }),
        DTypeTraits(name: "q8_0", ggufTypeID: 8, rwkvCppTypeID: 9, llamaFileType: 7, blockSize: 32, bytesPerBlock: MemoryLayout<rwkv_block_q8_0>.size,
                    fromFloat: \.f32_to_q8_0, toFloat: \.q8_0_to_f32, activationType: .q8_0, matmul: \.matmul_q8_0,
                    vecDot: ReferenceVecDot.q8_0),
        DTypeTraits(name: "q4_0", ggufTypeID: 2, rwkvCppTypeID: 2, llamaFileType: 2, blockSize: 32, bytesPerBlock: MemoryLayout<rwkv_block_q4_0>.size,
                    fromFloat: \.f32_to_q4_0, toFloat: \.q4_0_to_f32, activationType: .q8_0, matmul: \.matmul_q4_0,
                    vecDot: ReferenceVecDot.q4_0),
        DTypeTraits(name: "i32", ggufTypeID: 26, blockSize: 1, bytesPerBlock: 4, fromFloat: nil, toFloat: nil,
                    activationType: .i32, matmul: nil, vecDot: nil),
        interleaved32("q8_0r8", rows: .q8_0, bytes: MemoryLayout<rwkv_block_q8_0>.size, matmul: \.matmul_q8_0r8, layout: RWKV_R8_Q8_0),
        interleaved32("q4_0r8", rows: .q4_0, bytes: MemoryLayout<rwkv_block_q4_0>.size, matmul: \.matmul_q4_0r8, layout: RWKV_R8_Q4_0),
        DTypeTraits(name: "q8_0s", ggufTypeID: nil, blockSize: 32, bytesPerBlock: MemoryLayout<rwkv_block_q8_0s>.size,
                    fromFloat: \.f32_to_q8_0s, toFloat: \.q8_0s_to_f32, activationType: .q8_0s, matmul: nil, vecDot: nil),
        block32("q4_1", ggufTypeID: 3, rwkvCppTypeID: 3, llamaFileType: 3, bytes: MemoryLayout<rwkv_block_q4_1>.size, from: \.f32_to_q4_1, to: \.q4_1_to_f32, matmul: \.matmul_q4_1),
        block32("q5_0", ggufTypeID: 6, rwkvCppTypeID: 7, llamaFileType: 8, bytes: MemoryLayout<rwkv_block_q5_0>.size, from: \.f32_to_q5_0, to: \.q5_0_to_f32, matmul: \.matmul_q5_0),
        block32("q5_1", ggufTypeID: 7, rwkvCppTypeID: 8, llamaFileType: 9, bytes: MemoryLayout<rwkv_block_q5_1>.size, from: \.f32_to_q5_1, to: \.q5_1_to_f32, matmul: \.matmul_q5_1),
        block32("iq4_nl", ggufTypeID: 20, llamaFileType: 25, bytes: MemoryLayout<rwkv_block_iq4_nl>.size, from: nil, to: \.iq4_nl_to_f32, matmul: \.matmul_iq4_nl),
        kQuant("q2_K", ggufTypeID: 10, llamaFileType: 10, bytes: MemoryLayout<rwkv_block_q2_K>.size, from: \.f32_to_q2_K, to: \.q2_K_to_f32, matmul: \.matmul_q2_K, fallback: .q4_0),
        kQuant("q3_K", ggufTypeID: 11, llamaFileType: 11, bytes: MemoryLayout<rwkv_block_q3_K>.size, from: \.f32_to_q3_K, to: \.q3_K_to_f32, matmul: \.matmul_q3_K, fallback: .q4_0),
        kQuant("q4_K", ggufTypeID: 12, llamaFileType: 14, bytes: MemoryLayout<rwkv_block_q4_K>.size, from: \.f32_to_q4_K, to: \.q4_K_to_f32, matmul: \.matmul_q4_K, fallback: .q5_0),
        kQuant("q5_K", ggufTypeID: 13, llamaFileType: 16, bytes: MemoryLayout<rwkv_block_q5_K>.size, from: \.f32_to_q5_K, to: \.q5_K_to_f32, matmul: \.matmul_q5_K, fallback: .q5_1),
        kQuant("q6_K", ggufTypeID: 14, llamaFileType: 18, bytes: MemoryLayout<rwkv_block_q6_K>.size, from: \.f32_to_q6_K, to: \.q6_K_to_f32, matmul: \.matmul_q6_K, fallback: .q8_0),
        kQuant("iq4_xs", ggufTypeID: 23, llamaFileType: 30, bytes: MemoryLayout<rwkv_block_iq4_xs>.size, from: nil, to: \.iq4_xs_to_f32, matmul: \.matmul_iq4_xs, fallback: .iq4_nl),
        DTypeTraits(name: "q8_K", ggufTypeID: nil, blockSize: 256, bytesPerBlock: MemoryLayout<rwkv_block_q8_K>.size,
                    fromFloat: \.f32_to_q8_K, toFloat: \.q8_K_to_f32, activationType: .q8_K, matmul: nil, vecDot: nil),
        interleavedK("q4_Kr8", rows: .q4_K, bytes: MemoryLayout<rwkv_block_q4_K>.size, matmul: \.matmul_q4_Kr8, layout: RWKV_R8_Q4_K),
        interleavedK("q6_Kr8", rows: .q6_K, bytes: MemoryLayout<rwkv_block_q6_K>.size, matmul: \.matmul_q6_Kr8, layout: RWKV_R8_Q6_K),
        interleavedK("q5_Kr8", rows: .q5_K, bytes: MemoryLayout<rwkv_block_q5_K>.size, matmul: \.matmul_q5_Kr8, layout: RWKV_R8_Q5_K),
        interleaved32("q4_1r8", rows: .q4_1, bytes: MemoryLayout<rwkv_block_q4_1>.size, matmul: \.matmul_q4_1r8, layout: RWKV_R8_Q4_1),
        interleaved32("q5_0r8", rows: .q5_0, bytes: MemoryLayout<rwkv_block_q5_0>.size, matmul: \.matmul_q5_0r8, layout: RWKV_R8_Q5_0),
        interleaved32("q5_1r8", rows: .q5_1, bytes: MemoryLayout<rwkv_block_q5_1>.size, matmul: \.matmul_q5_1r8, layout: RWKV_R8_Q5_1),
        interleavedK("q3_Kr8", rows: .q3_K, bytes: MemoryLayout<rwkv_block_q3_K>.size, matmul: \.matmul_q3_Kr8, layout: RWKV_R8_Q3_K),
        interleavedK("q2_Kr8", rows: .q2_K, bytes: MemoryLayout<rwkv_block_q2_K>.size, matmul: \.matmul_q2_Kr8, layout: RWKV_R8_Q2_K),
        interleaved32("iq4_nlr8", rows: .iq4_nl, bytes: MemoryLayout<rwkv_block_iq4_nl>.size, matmul: \.matmul_iq4_nlr8, layout: RWKV_R8_IQ4_NL),
        interleavedK("iq4_xsr8", rows: .iq4_xs, bytes: MemoryLayout<rwkv_block_iq4_xs>.size, matmul: \.matmul_iq4_xsr8, layout: RWKV_R8_IQ4_XS),
    ]

    /// A K-quant (or IQ4_XS) multiplied against Q8_K activations on int8 dot products; its reference vec-dot
    /// decodes the weights and dots them with the dequantized activations.
    static func kQuant(_ name: String, ggufTypeID: UInt32, llamaFileType: UInt32, bytes: Int, from: FromFloat?, to: ToFloat, matmul: Matmul,
                       fallback: DType) -> DTypeTraits {
        DTypeTraits(name: name, ggufTypeID: ggufTypeID, llamaFileType: llamaFileType, fallback: fallback, tokenCountChangesSums: false, blockSize: 256,
                    bytesPerBlock: bytes, fromFloat: from, toFloat: to, activationType: .q8_K, matmul: matmul,
                    vecDot: ReferenceVecDot.decoded(to, blockSize: 256, blockBytes: bytes, against: .q8_K))
    }

    /// A block of 32 multiplied against Q8_0 activations on int8 dot products (matmul_quant.h); its reference
    /// vec-dot decodes both.
    static func block32(_ name: String, ggufTypeID: UInt32, rwkvCppTypeID: UInt32? = nil, llamaFileType: UInt32, bytes: Int,
                        from: FromFloat?, to: ToFloat, matmul: Matmul) -> DTypeTraits {
        DTypeTraits(name: name, ggufTypeID: ggufTypeID, rwkvCppTypeID: rwkvCppTypeID, llamaFileType: llamaFileType,
                    blockSize: 32, bytesPerBlock: bytes, fromFloat: from, toFloat: to, activationType: .q8_0, matmul: matmul,
                    vecDot: ReferenceVecDot.decoded(to, blockSize: 32, blockBytes: bytes, against: .q8_0))
    }

    /// A block-of-32 type with 8 rows interleaved, multiplied against Q8_0s activations (matmul_r8.h).
    static func interleaved32(_ name: String, rows: DType, bytes: Int, matmul: Matmul, layout: rwkv_r8_layout) -> DTypeTraits {
        DTypeTraits(name: name, ggufTypeID: nil, tokenCountChangesSums: false, blockSize: 32, bytesPerBlock: bytes, fromFloat: nil, toFloat: nil,
                    activationType: .q8_0s, matmul: matmul, vecDot: nil, interleaving: .init(rows: rows, layout: layout))
    }

    /// A K-quant with 8 rows interleaved, multiplied against Q8_K activations (matmul_q*_Kr8.h).
    static func interleavedK(_ name: String, rows: DType, bytes: Int, matmul: Matmul, layout: rwkv_r8_layout) -> DTypeTraits {
        DTypeTraits(name: name, ggufTypeID: nil, tokenCountChangesSums: false, blockSize: 256, bytesPerBlock: bytes, fromFloat: nil, toFloat: nil,
                    activationType: .q8_K, matmul: matmul, vecDot: nil, interleaving: .init(rows: rows, layout: layout))
    }
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

    /// A weight row decoded block by block against activations of `activation` (Q8_0 or Q8_K) decoded too,
    /// value by value: the same products as the integer kernels, summed in float (the kernels' integer sums
    /// are exact, so the two agree to rounding).
    static func decoded(_ decoder: DTypeTraits.ToFloat, blockSize: Int, blockBytes: Int, against activation: DType) -> DTypeTraits.VecDot {
        nonisolated(unsafe) let path = decoder
        return { w, x, n in
            // Looked up when called: the table is still being built when this closure is made.
            let activationPath = activation.traits.toFloat!, activationBytes = activation.rowBytes(blockSize)
            var weights = [Float](repeating: 0, count: blockSize), activations = [Float](repeating: 0, count: blockSize)
            let kernels = Kernels.current
            var sum: Float = 0
            for b in 0..<(n / blockSize) {
                weights.withUnsafeMutableBufferPointer { kernels[path]!(w + b * blockBytes, $0.baseAddress!, Int64(blockSize)) }
                activations.withUnsafeMutableBufferPointer { kernels[activationPath]!(x + b * activationBytes, $0.baseAddress!, Int64(blockSize)) }
                for j in 0..<blockSize { sum += weights[j] * activations[j] }
            }
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
