import CKernels

// Ops that read typed weights: matmul (with the convert_rows node that encodes its activations) and
// get_rows. The kernel for a weight type comes from the dtype table. Kernels: CKernels/kernels/matmul_*.h,
// convert.h.

extension Graph {
    /// `W[K, M] · x[K, T] → [M, T]`; x is f32, W any type with a matmul kernel, K a multiple of its block.
    /// `sequences` S > 1: the T columns are S independent sequences of T/S tokens each (one token in a
    /// batched decode step), and each sequence's result is bit-identical to the product of its columns alone.
    public mutating func matmul(_ weight: Value, _ x: Value, sequences: Int = 1) throws -> Value {
        let w = shape(weight), s = shape(x)
        try requireF32("matmul", x)
        guard w.rank <= 2, s.rank <= 2, w[0] == s[0] else {
            throw GraphError("matmul: weight \(w) and input \(s) do not agree (need W [K, M] and x [K, T])")
        }
        guard sequences >= 1, s[1] % sequences == 0 else {
            throw GraphError("matmul: \(s[1]) columns do not split into \(sequences) sequences")
        }
        let traits = dtype(weight).traits
        guard traits.matmul != nil else { throw GraphError("matmul: weight type \(dtype(weight)) has no matmul kernel") }
        var activations = x
        if traits.activationType != .f32 {
            let type = traits.activationType
            guard s[0] % type.blockSize == 0 else {
                throw GraphError("matmul: row length \(s[0]) is not a multiple of \(type)'s block size")
            }
            activations = record(.convertRows(type), [x], type, s)
        }
        return record(.matmul(sequences: sequences), [weight, activations], .f32, Shape(w[1], s[1]))
    }

    /// Rows of `table [C, V]` picked by i32 `ids [T]`, as f32 `[C, T]`. Ids are range-checked at run time.
    public mutating func getRows(_ table: Value, ids: Value) throws -> Value {
        guard dtype(ids) == .i32, shape(ids).rank == 1 else {
            throw GraphError("get_rows: ids must be i32 [T], got \(dtype(ids)) \(shape(ids))")
        }
        guard shape(table).rank == 2, dtype(table).traits.toFloat != nil else {
            throw GraphError("get_rows: table must be a 2-D float or block tensor, got \(dtype(table)) \(shape(table))")
        }
        return record(.getRows, [table, ids], .f32, Shape(shape(table)[0], shape(ids)[0]))
    }
}

enum MatmulOps {
    /// Weight rows per unit: a GEMM block for several tokens of a type whose prefill runs in row blocks (f32,
    /// f16, bf16), else a matvec block (whole groups of 8 rows for the interleaved layouts).
    static let matvecRowsPerUnit = 16, gemmRowsPerUnit = 64

    /// The matmul's row. With several `sequences`, a type whose sums can change with the token count
    /// (``DTypeTraits/tokenCountChangesSums``) runs its kernel per sequence, on that sequence's columns,
    /// reading its weights once per sequence — or, with one token per sequence, its
    /// ``DTypeTraits/matmulColumns`` kernel once for all; the other kernels read them once for all.
    static func matmul(sequences: Int) -> OpTraits {
        OpTraits(
            name: "matmul", takesEpilogue: true,
            lower: { context in
                let type = context.dtype(0)
                let k = context.width, m = context.shape(0)[1], tokens = context.shape(1).rowCount
                var columnwise = sequences > 1 && type.traits.tokenCountChangesSums
                let sequenceTokens = columnwise ? tokens / sequences : tokens
                // One token per sequence (a batched decode step): a kernel that takes every column as alone.
                let columnsKernel = columnwise && sequenceTokens == 1 ? type.traits.matmulColumns : nil
                if columnsKernel != nil { columnwise = false }
                let perUnit = type.traits.prefillInRowBlocks && sequenceTokens > 1 ? gemmRowsPerUnit : matvecRowsPerUnit
                var task = rwkv_task()
                task.run = context.kernels[\.matmul]
                task.width = Int64(k)
                task.rows = Int64(tokens)
                task.out_width = Int64(m)
                task.p.matmul.kernel = context.kernels[columnsKernel ?? type.traits.matmul!]
                task.p.matmul.rows_per_unit = Int64(perUnit)
                task.p.matmul.column_bytes = columnwise ? Int64(type.traits.activationType.rowBytes(k)) : 0
                task.p.matmul.sequence_columns = Int64(sequenceTokens)
                task.channels_per_unit = Int64(perUnit)
                // Decode reads the weights once; prefill is compute-bound (one multiply-add per weight and token).
                let rereads = columnwise ? sequences : 1
                let cost = perUnit == gemmRowsPerUnit
                    ? Double(perUnit * k * tokens) * LoweringContext.nsPerFlop * 2
                    : Double(perUnit) * (Double(type.rowBytes(k) * rereads) * LoweringContext.nsPerWeightByte + Double(k * (tokens - 1)) * LoweringContext.nsPerFlop)
                return LoweredTask(task: task, unitCount: (m + perUnit - 1) / perUnit, unitCost: cost)
            },
            reference: { e, node in e.set(try reference(e, node)) })
    }

    static func convertRows(_ type: DType) -> OpTraits {
        OpTraits(name: "convert_rows(\(type))",
                 lower: { context in
                     context.rowTask(\.convert_rows, nsPerValue: 1) {
                         $0.convert.encode = context.kernels[type.traits.fromFloat!]
                         $0.convert.row_bytes = Int64(type.rowBytes(context.width))
                     }
                 },
                 reference: { e, node in
                     let input = e.input(node, 0), k = e.graph.shape(node.inputs[0])[0], rowBytes = type.rowBytes(k)
                     var bytes = [UInt8](repeating: 0, count: rowBytes * (input.count / k))
                     input.withUnsafeBufferPointer { src in
                         bytes.withUnsafeMutableBytes { dst in
                             for t in 0..<(input.count / k) { type.encode(src.baseAddress! + t * k, into: dst.baseAddress! + t * rowBytes, count: k) }
                         }
                     }
                     e.encoded[e.current] = bytes
                 })
    }

    static var getRows: OpTraits {
        OpTraits(
            name: "get_rows",
            lower: { context in
                let table = context.shape(0), type = context.dtype(0)
                var task = rwkv_task()
                task.run = context.kernels[\.get_rows]
                task.width = Int64(table[0])
                task.rows = Int64(context.node.shape[1])
                task.p.gather.decode = context.kernels[type.traits.toFloat!]
                task.p.gather.row_bytes = Int64(type.rowBytes(table[0]))
                task.p.gather.table_rows = Int64(table[1])
                return LoweredTask(task: task, unitCount: context.node.shape[1], unitCost: Double(table[0]) * LoweringContext.nsPerElement)
            },
            reference: { e, node in
                let table = e.input(node, 0), ids = e.input(node, 1), c = e.graph.shape(node.inputs[0])[0]
                let rows = e.graph.shape(node.inputs[0])[1]
                e.set(try ids.flatMap { raw -> ArraySlice<Float> in
                    let token = Int(raw)
                    guard token >= 0, token < rows else { throw ExecutionError("a token id is outside the embedding table") }
                    return table[(token * c)..<(token * c + c)]
                })
            })
    }

    /// The naive matmul: each weight row decoded (float types) or dotted with the encoded activations by the
    /// type's reference vec-dot; interleaved weights de-interleaved first.
    static func reference(_ e: ReferenceEvaluation, _ node: Graph.Node) throws -> [Float] {
        guard case .weight(var weight) = e.graph.nodes[node.inputs[0].id].op else {
            throw ExecutionError("reference matmul needs a weight tensor")
        }
        let activations = node.inputs[1]
        var encoded = e.encoded[activations.id]
        if weight.dtype.interleavedFrom != nil {
            // Interleaved rows: the plain rows against the same activations (Q8_0s as Q8_0 blocks: f16 scale, quants).
            if weight.dtype.traits.activationType == .q8_0s { encoded = q8_0Blocks(fromQ8_0s: encoded) }
            weight = try weight.deinterleavedRows()
        }
        let floats = e.input(node, 1)
        let k = weight.shape[0], m = weight.shape[1], tokens = e.graph.shape(activations)[1]
        let traits = weight.dtype.traits
        var out = [Float](repeating: 0, count: m * tokens)
        let rowBytes = traits.activationType.rowBytes(k)
        weight.withUnsafeBytes { w in
            floats.withUnsafeBytes { x in
                encoded.withUnsafeBytes { q in
                    for t in 0..<tokens {
                        let activation = traits.activationType == .f32 ? x.baseAddress! + t * k * 4 : q.baseAddress! + t * rowBytes
                        for row in 0..<m { out[t * m + row] = traits.vecDot!(w.baseAddress! + row * weight.rowBytes, activation, k) }
                    }
                }
            }
        }
        return out
    }

    /// Q8_0s blocks (f32 scale that is an f16 value, sum, quants) as Q8_0 blocks (f16 scale, quants).
    static func q8_0Blocks(fromQ8_0s bytes: [UInt8]) -> [UInt8] {
        let q8s = MemoryLayout<rwkv_block_q8_0s>.size
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / q8s * MemoryLayout<rwkv_block_q8_0>.size)
        for block in stride(from: 0, to: bytes.count, by: q8s) {
            let d = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: block, as: Float.self) }
            let h = HalfPrecision.f16Bits(d)
            out += [UInt8(h & 0xFF), UInt8(h >> 8)]
            out += bytes[(block + 8)..<(block + q8s)]
        }
        return out
    }
}
