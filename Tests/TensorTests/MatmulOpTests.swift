import Foundation
import Tensor
import Testing

/// The matmul op of every weight type and kernel family (plain and interleaved rows, float columns, folded
/// element-wise chains) against the naive reference interpreter, on 1, 2, 3, 4 and 8 threads of both backends,
/// bit-identical across thread counts; and the bit-identity of a token's column alone, in a prefill and in a
/// batch.
extension TensorTestSuite {
    struct MatmulOpTests {
        static let matmulCases: [(DType, Int, Int, Int)] = [
            (.f32, 37, 19, 1), (.f32, 37, 131, 6), (.f32, 96, 200, 1), (.f32, 64, 150, 70),
            (.f16, 37, 19, 1), (.f16, 100, 77, 4), (.bf16, 40, 33, 3),
            (.q8_0, 32, 17, 1), (.q8_0, 96, 45, 5), (.q4_0, 32, 17, 1), (.q4_0, 160, 70, 4),
            (.q8_0, 3072, 37, 9), (.q4_0, 768, 33, 7), (.f16, 771, 35, 9), (.q8_0, 64, 200, 2), (.q4_0, 64, 131, 3),
            // F16/BF16 around the panels (64 rows × 64 columns from AVX-512 on, 16 × 256 below; partial 8-row groups),
            // 6-token tiles and 96-token groups (192 from AVX-512 on), from 2 to 200 tokens.
            (.bf16, 600, 64, 13), (.f16, 264, 130, 127), (.bf16, 40, 7, 128), (.f16, 64, 70, 130), (.f16, 5, 4, 2),
            (.f16, 70, 66, 200), (.bf16, 136, 17, 197),
        ]

        @Test(arguments: matmulCases)
        func matmul(_ type: DType, k: Int, m: Int, t: Int) throws {
            let weight = try randomTensor(Shape(k, m), scale: 0.5, seed: UInt64(k * m)).converted(to: type)
            let x = try randomTensor(Shape(k, t), seed: UInt64(k + t))
            // BLAS sums a long f32 row in its own order: a little more rounding than the reference's.
            try checkAgainstReference(inputs: [("x", x)], tolerance: type == .f32 && k > 256 ? 2e-5 : 1e-5) { g, v in
                [try g.matmul(g.weight(weight), v["x"]!)]
            }
        }

        /// A matmul over several sequences' columns (a batched prefill) gives each sequence the bits of the
        /// product of its own columns alone, for every kernel family (including those whose sums change with
        /// the token count, which then run per sequence) and thread count.
        @Test(arguments: [(DType.f32, false), (.f16, false), (.bf16, false), (.q8_0, false), (.q8_0, true), (.q4_0, true), (.q4_K, false), (.q4_K, true)])
        func matmulPerSequenceIsBitIdenticalToAlone(_ type: DType, interleaved: Bool) throws {
            let (k, m, sequences, tokens) = (type == .q4_K ? 512 : 256, 136, 3, 7)
            var weight = try randomTensor(Shape(k, m), scale: 0.5, seed: 77).converted(to: type)
            if interleaved { weight = try weight.interleavedRows() }
            let x = try randomTensor(Shape(k, sequences * tokens), seed: 78)
            func product(_ columns: Tensor, sequences: Int, threads: Int) throws -> [UInt32] {
                var g = Graph()
                let input = try g.input("x", .f32, columns.shape)
                try g.output(try g.matmul(g.weight(weight), input, sequences: sequences), "y")
                let executor = Executor(graph: g, threads: threads)
                try executor.bind(input, columns)
                try executor.run()
                return try executor.output("y").floats().map(\.bitPattern)
            }
            let xs = x.floats()
            let alone = try (0..<sequences).flatMap { s in
                try product(try Tensor(Array(xs[(s * tokens * k)..<((s + 1) * tokens * k)]), shape: Shape(k, tokens)), sequences: 1, threads: 1)
            }
            for threads in [1, 2, 3] {
                #expect(try product(x, sequences: sequences, threads: threads) == alone, "\(weight.dtype), \(threads) threads")
            }
        }

        /// Every other file block type, on weights made of the gguf-py fixture blocks (random quants, scales of
        /// every kind, up to ±60000): the kernel against the reference vec-dot, which sums in another order. With
        /// such scales the terms cancel hard, so the error is measured against Σ|w·x| (an indexing mistake is off
        /// by order 1 of it).
        @Test(arguments: [(DType.q4_1, 32), (.q5_0, 64), (.q5_1, 96), (.iq4_nl, 32), (.q2_K, 256), (.q3_K, 512), (.q4_K, 256),
                          (.q5_K, 768), (.q6_K, 256), (.iq4_xs, 512)])
        func matmulOnFileBlockTypes(_ type: DType, k: Int) throws {
            let bytes = Array(try Fixtures.data("quant/\(type).blocks"))
            let rows = bytes.count / type.rowBytes(k)
            let weight = try Tensor(zeros: type, Shape(k, rows))
            weight.withUnsafeMutableBytes { $0.copyBytes(from: bytes[..<(rows * type.rowBytes(k))]) }
            let w = weight.floats()
            for t in [1, 5, 19] {
                let x = try randomTensor(Shape(k, t), seed: UInt64(k + t))
                let xs = x.floats()
                let scales = (0..<t).flatMap { token in (0..<rows).map { row in (0..<k).reduce(Float(0)) { $0 + abs(w[row * k + $1] * xs[token * k + $1]) } } }
                try checkAgainstReference(inputs: [("x", x)], threads: [1, 3], tolerance: 1e-5, errorScales: [scales]) { g, v in
                    [try g.matmul(g.weight(weight), v["x"]!)]
                }
            }
        }

        /// The types with an r8 layout but Q8_0/Q4_0 (tested on random values below), interleaved by 8 rows on the
        /// gguf-py fixture blocks (every kind of scale and minimum) cycled into 16 rows of 768: the r8 kernel against
        /// the reference on the plain rows, the error measured against Σ|w·x| as above; every level and thread
        /// count gives the same bits (checked by the helper).
        @Test(arguments: [DType.q4_1, .q5_0, .q5_1, .iq4_nl, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs])
        func interleavedTypesOnFileBlocks(_ type: DType) throws {
            let k = 768, rows = 16
            let plain = try Self.fileBlocksMatrix(type, k: k, rows: rows)
            let weight = try plain.interleavedRows()
            #expect(weight.dtype == type.interleavedLayout && weight.byteCount == plain.byteCount)
            #expect(try weight.deinterleavedRows().bytes == plain.bytes && weight.floats() == plain.floats())
            let w = plain.floats()
            for t in [1, 5, 8, 19] {
                let x = try randomTensor(Shape(k, t), seed: UInt64(k + t))
                let xs = x.floats()
                let scales = (0..<t).flatMap { token in (0..<rows).map { row in (0..<k).reduce(Float(0)) { $0 + abs(w[row * k + $1] * xs[token * k + $1]) } } }
                try checkAgainstReference(inputs: [("x", x)], threads: [1, 3], tolerance: 1e-5, errorScales: [scales]) { g, v in
                    [try g.matmul(g.weight(weight), v["x"]!)]
                }
            }
        }

        /// A batched decode step (one token per sequence) of the float types runs their columns kernel: each
        /// sequence's column is the bits of its one-token product alone, for rows of ≤ 64 (four at a time, and
        /// from 3 columns on 16 at a time in the lanes where k is 64 for F32, 32 or 64 for F16/BF16), long rows
        /// with a tail (k % 8, k % 32, k % 64), and sequence counts around the kernel's column groups (8, 4, 2
        /// and 1 columns at a time).
        @Test(arguments: [(DType.f32, 771, 5), (.f32, 64, 8), (.f32, 64, 3), (.f32, 32, 11), (.f16, 771, 7), (.f16, 64, 8),
                          (.f16, 32, 5), (.f16, 42, 3), (.f16, 130, 15), (.f16, 56, 5), (.bf16, 200, 6), (.bf16, 32, 2),
                          (.bf16, 32, 4), (.bf16, 64, 9)])
        func decodeColumnsAreBitIdenticalToAlone(_ type: DType, k: Int, sequences: Int) throws {
            let m = 37
            let weight = try randomTensor(Shape(k, m), scale: 0.5, seed: 7).converted(to: type)
            let x = try randomTensor(Shape(k, sequences), seed: 8)
            func product(_ columns: Tensor, sequences: Int, threads: Int, level: KernelLevel = .current) throws -> [UInt32] {
                var g = Graph()
                let input = try g.input("x", .f32, columns.shape)
                try g.output(try g.matmul(g.weight(weight), input, sequences: sequences), "y")
                let executor = Executor(graph: g, threads: threads, level: level)
                try executor.bind(input, columns)
                try executor.run()
                return try executor.output("y").floats().map(\.bitPattern)
            }
            let xs = x.floats()
            let alone = try (0..<sequences).flatMap { s in
                try product(try Tensor(Array(xs[(s * k)..<((s + 1) * k)]), shape: Shape(k, 1)), sequences: 1, threads: 1)
            }
            for level in KernelLevel.supported {
                for threads in [1, 3] {
                    #expect(try product(x, sequences: sequences, threads: threads, level: level) == alone, "\(type) k \(k), \(level), \(threads) threads")
                }
            }
        }

        /// Element-wise chains folded onto matmuls (matvec, GEMM and quantized tiles: channel blocks over every
        /// token) and onto row kernels: every step kind, row and full operands, a swapped add, a lerp; a node
        /// read twice stays a task of its own. Same results as unfolded, bit for bit (checked by the helper).
        @Test(arguments: [(DType.f32, 96, 70, 1), (.f32, 64, 150, 70), (.f16, 100, 77, 4), (.q8_0, 96, 45, 5), (.q4_0, 64, 136, 1)])
        func foldedChains(_ type: DType, k: Int, m: Int, t: Int) throws {
            let weights = try (0..<4).map { try randomTensor(Shape(k, m), scale: 0.3, seed: UInt64(90 + $0)).converted(to: $0 == 3 ? .f32 : type) }
            let tensors = [("x", try randomTensor(Shape(k, t), seed: 80)), ("full", try randomTensor(Shape(m, t), seed: 81)),
                           ("row", try randomTensor(Shape(m), seed: 82)), ("ones", try Tensor([Float](repeating: 1, count: m), shape: Shape(m)))]
            func build(_ g: inout Graph, _ v: [String: Graph.Value]) throws -> [Graph.Value] {
                let x = v["x"]!, full = v["full"]!, row = v["row"]!
                let decay = try g.exp(try g.scale(try g.sigmoid(try g.add(try g.matmul(g.weight(weights[0]), x), row)), -0.606531))
                let residual = try g.add(full, try g.matmul(g.weight(weights[1]), x))
                let mixed = try g.lerp(try g.mul(try g.matmul(g.weight(weights[2]), x), row), full, row)
                let normed = try g.unary(.tanh, try g.sub(try g.mul(try g.layerNorm(full, weight: row, bias: v["ones"]!, eps: 1e-5), row), full))
                let shared = try g.sigmoid(try g.matmul(g.weight(weights[3]), x))
                return [decay, residual, mixed, normed, try g.mul(shared, row), try g.add(shared, full)]
            }
            try checkAgainstReference(inputs: tensors, threads: [1, 2, 3], tolerance: 2e-5, build)
            var graph = Graph()
            var values: [String: Graph.Value] = [:]
            for (name, tensor) in tensors { values[name] = try graph.input(name, tensor.dtype, tensor.shape) }
            for (i, value) in try build(&graph, values).enumerated() { try graph.output(value, "out\(i)") }
            // Unfolded: 5 phases down the decay chain; folded: one for the roots, one for the two readers of `shared`.
            #expect(Executor(graph: graph, foldingElementwise: false).phaseCount >= 5)
            #expect(Executor(graph: graph).phaseCount == 2)
        }

        /// Weights interleaved by 8 rows (the layout models run with), against the reference on the plain rows:
        /// odd token counts around the 4-token tile, units of 16 rows ending in a group of 8.
        static let interleavedCases: [(DType, Int, Int, Int)] = [
            (.q8_0, 32, 8, 1), (.q8_0, 96, 40, 5), (.q8_0, 3072, 24, 9), (.q8_0, 64, 200, 2),
            (.q4_0, 32, 16, 3), (.q4_0, 160, 72, 4), (.q4_0, 768, 40, 7), (.q4_0, 64, 136, 13),
            (.q4_K, 256, 8, 1), (.q4_K, 512, 40, 5), (.q4_K, 768, 24, 9), (.q4_K, 256, 136, 13),
            (.q4_1, 64, 16, 3), (.q5_0, 96, 40, 5), (.q5_1, 768, 24, 9), (.q5_1, 32, 136, 13),
            (.q2_K, 256, 8, 1), (.q2_K, 512, 40, 5), (.q2_K, 768, 24, 9), (.q2_K, 256, 136, 13),
            (.q3_K, 256, 8, 1), (.q3_K, 512, 40, 5), (.q3_K, 768, 24, 9), (.q3_K, 256, 136, 13),
            (.q5_K, 256, 8, 1), (.q5_K, 512, 40, 5), (.q5_K, 768, 24, 9), (.q5_K, 256, 136, 13),
            (.q6_K, 256, 8, 1), (.q6_K, 512, 40, 5), (.q6_K, 768, 24, 9), (.q6_K, 256, 136, 13),
        ]

        @Test(arguments: interleavedCases)
        func interleavedMatmul(_ type: DType, k: Int, m: Int, t: Int) throws {
            let weight = try randomTensor(Shape(k, m), scale: 0.5, seed: UInt64(k * m + 1)).converted(to: type).interleavedRows()
            let x = try randomTensor(Shape(k, t), seed: UInt64(k + t + 1))
            // The types with minimums (or the K-quants' offsets) add their term to the scaled sums, which cancel:
            // their error is measured against Σ|w·x| (as for the file block types).
            var errorScales: [[Float]]? = nil
            if ![DType.q8_0, .q4_0].contains(type) {
                let w = weight.floats(), xs = x.floats()
                errorScales = [(0..<t).flatMap { token in (0..<m).map { row in (0..<k).reduce(Float(0)) { $0 + abs(w[row * k + $1] * xs[token * k + $1]) } } }]
            }
            try checkAgainstReference(inputs: [("x", x)], tolerance: 1e-5, errorScales: errorScales) { g, v in [try g.matmul(g.weight(weight), v["x"]!)] }
        }

        /// A k × rows matrix of `type` made of the gguf-py fixture blocks, cycled.
        static func fileBlocksMatrix(_ type: DType, k: Int, rows: Int) throws -> Tensor {
            let blocks = Array(try Fixtures.data("quant/\(type).blocks"))
            let blockBytes = type.bytesPerBlock, count = blocks.count / blockBytes
            let bytes = (0..<(rows * k / type.blockSize)).flatMap { i in blocks[(i % count * blockBytes)..<((i % count + 1) * blockBytes)] }
            let matrix = try Tensor(zeros: type, Shape(k, rows))
            matrix.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
            return matrix
        }

        /// Per (row, token) the interleaved kernels do the same arithmetic in 8-, 4-, 3- and 2-token tiles and
        /// alone, so a prefill column equals a decode of that token bit for bit (13 = 8 + 4 + 1, 15 = 8 + 4 + 3 and
        /// 2 tokens; all three take each row group once for all their tiles, 20 takes each tile over all rows);
        /// 40 rows end in a group of 8 after two of 16. IQ4_NL and IQ4_XS, which have no quantizer, on the
        /// fixture blocks.
        @Test(arguments: [DType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs], [13, 15, 2, 20])
        func interleavedPrefillColumnsEqualDecode(_ type: DType, t: Int) throws {
            let k = 256, m = 40
            let plain = type.traits.fromFloat == nil ? try Self.fileBlocksMatrix(type, k: k, rows: m)
                : try randomTensor(Shape(k, m), scale: 0.5, seed: 41).converted(to: type)
            let weight = try plain.interleavedRows()
            #expect(weight.dtype == type.interleavedLayout)
            let x = try randomTensor(Shape(k, t), seed: 42)
            func run(_ input: Tensor) throws -> [Float] {
                var graph = Graph()
                let xv = try graph.input("x", .f32, input.shape)
                try graph.output(try graph.matmul(graph.weight(weight), xv), "y")
                let executor = Executor(graph: graph, threads: 2)
                try executor.bind("x", input)
                try executor.run()
                return try executor.output("y").floats()
            }
            let all = try run(x), values = x.floats()
            for token in 0..<t {
                let column = try run(try Tensor(Array(values[(token * k)..<((token + 1) * k)]), shape: Shape(k, 1)))
                #expect(column.map(\.bitPattern) == all[(token * m)..<((token + 1) * m)].map(\.bitPattern), "token \(token)")
            }
        }
    }
}
