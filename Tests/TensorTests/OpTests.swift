import Foundation
import Tensor
import Testing

/// Every op against the naive reference interpreter at odd sizes and T = 1 and T > 1, on 1, 2, 3, 4
/// and 8 threads of both backends, bit-identical across thread counts.
extension TensorTestSuite {
    struct OpTests {
        static let sizes: [(c: Int, t: Int)] = [(1, 1), (7, 1), (37, 5), (131, 3), (64, 17)]

        @Test(arguments: sizes)
        func elementwise(_ size: (c: Int, t: Int)) throws {
            let shape = Shape(size.c, size.t)
            let a = try randomTensor(shape, seed: 1), b = try randomTensor(shape, seed: 2)
            let row = try randomTensor(Shape(size.c), seed: 3)
            try checkAgainstReference(inputs: [("a", a), ("b", b), ("row", row)]) { g, v in
                [try g.add(v["a"]!, v["b"]!), try g.sub(v["a"]!, v["row"]!), try g.mul(v["a"]!, v["b"]!),
                 try g.mul(v["b"]!, v["row"]!), try g.lerp(v["a"]!, v["b"]!, v["row"]!), try g.lerp(v["a"]!, v["b"]!, v["b"]!),
                 try g.scale(v["a"]!, -0.606531)]
            }
        }

        @Test(arguments: sizes)
        func unaryFunctions(_ size: (c: Int, t: Int)) throws {
            let x = try randomTensor(Shape(size.c, size.t), scale: 6, seed: 4)
            try checkAgainstReference(inputs: [("x", x)]) { g, v in
                try UnaryFunction.allCases.map { try g.unary($0, v["x"]!) }
            }
        }

        /// The vectorised exp, sigmoid and tanh against double precision over their whole range, in ulps, with the
        /// special values (overflow to +inf, underflow through the subnormals to 0, NaN, ±0).
        @Test func expSigmoidAndTanhAreWithinAFewUlps() throws {
            var values: [Float] = stride(from: -110.0, through: 95.0, by: 0.0173).map { Float($0) }
            values += stride(from: -12.0, through: 12.0, by: 0.000731).map { Float($0) } + [0.625, -0.625, 0.62499994, 1e-30, -1e-30, 1e-40]
            values += [.nan, .infinity, -.infinity, 0, -0.0, 88.72, 88.73, -87.3, -103.9, 1e-8, -1e-8]
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(values.count))
            try graph.output(try graph.exp(x), "exp")
            try graph.output(try graph.sigmoid(x), "sigmoid")
            try graph.output(try graph.tanh(x), "tanh")
            let executor = Executor(graph: graph, threads: 2)
            try executor.bind("x", try Tensor(values, shape: Shape(values.count)))
            try executor.run()
            let exp = try executor.output("exp").floats(), sigmoid = try executor.output("sigmoid").floats()
            let tanh = try executor.output("tanh").floats()
            func ulps(_ got: Float, _ want: Double) -> Double {
                guard want.isFinite, want <= Double(Float.greatestFiniteMagnitude) else { return got == .infinity ? 0 : .infinity }
                return abs(Double(got) - want) / Double(Float(want).ulp)
            }
            var worstExp = 0.0, worstSigmoid = 0.0, worstTanh = 0.0
            for (i, v) in values.enumerated() {
                if v.isNaN {
                    #expect(exp[i].isNaN && sigmoid[i].isNaN && tanh[i].isNaN)
                    continue
                }
                let t = Foundation.tanh(Double(v))
                worstTanh = max(worstTanh, t == 0 ? (tanh[i] == 0 && tanh[i].sign == v.sign ? 0 : .infinity) : ulps(tanh[i], t))
                worstExp = max(worstExp, ulps(exp[i], Foundation.exp(Double(v))))
                let s = 1 / (1 + Foundation.exp(-Double(v)))
                if s > 1e-30 { worstSigmoid = max(worstSigmoid, ulps(sigmoid[i], s)) }
            }
            #expect(worstExp <= 2, "exp: \(worstExp) ulp")
            #expect(worstSigmoid <= 4, "sigmoid: \(worstSigmoid) ulp")
            #expect(worstTanh <= 2, "tanh: \(worstTanh) ulp")
            #expect(exp[values.count - 10] == .infinity && exp[values.count - 9] == 0 && exp[values.count - 8] == 1)
        }

        @Test(arguments: sizes)
        func normalisations(_ size: (c: Int, t: Int)) throws {
            let c = size.c * 4
            let x = try randomTensor(Shape(c, size.t), scale: 3, seed: 5)
            let w = try randomTensor(Shape(c), seed: 6), b = try randomTensor(Shape(c), seed: 7)
            try checkAgainstReference(inputs: [("x", x), ("w", w), ("b", b)], tolerance: 2e-5) { g, v in
                [try g.layerNorm(v["x"]!, weight: v["w"]!, bias: v["b"]!, eps: 1e-5),
                 try g.groupNorm(v["x"]!, weight: v["w"]!, bias: v["b"]!, groups: 4, eps: 64e-5),
                 try g.l2NormalizeHeads(v["x"]!, headSize: size.c, eps: 1e-12),
                 try g.l2NormalizeHeads(v["x"]!, headSize: 2, eps: 1e-12)]
            }
        }

        @Test func l2NormalizeKeepsZeroHeadsFinite() throws {
            let x = try Tensor([0, 0, 0, 0, 3, 4, 0, 0], shape: Shape(8, 1))
            try checkAgainstReference(inputs: [("x", x)], threads: [1]) { g, v in [try g.l2NormalizeHeads(v["x"]!, headSize: 4, eps: 1e-12)] }
        }

        @Test(arguments: sizes)
        func shiftRowsAndHeadDot(_ size: (c: Int, t: Int)) throws {
            let x = try randomTensor(Shape(size.c * 2, size.t), seed: 8)
            let y = try randomTensor(Shape(size.c * 2, size.t), seed: 9)
            let prev = try randomTensor(Shape(size.c * 2), seed: 10)
            try checkAgainstReference(inputs: [("x", x), ("y", y), ("prev", prev)]) { g, v in
                [try g.shift(v["x"]!, previous: v["prev"]!),
                 try g.rows(v["x"]!, start: size.t - 1, count: 1),
                 try g.headDotScale(v["x"]!, v["y"]!, v["prev"]!, v["y"]!, headSize: size.c),
                 try g.headDotScale(v["x"]!, v["y"]!, v["x"]!, v["x"]!, headSize: 2 * size.c)]
            }
        }

        /// Shift and rows over several sequences of rows one after another (a batched prefill): each
        /// sequence's first row comes from its own previous row, and its slice is taken from its own rows.
        @Test(arguments: [(3, 4), (2, 1), (5, 7)])
        func shiftAndRowsPerSequence(_ sequences: Int, _ tokens: Int) throws {
            let x = try randomTensor(Shape(24, sequences * tokens), seed: 11)
            let prev = try randomTensor(Shape(24, sequences), seed: 12)
            try checkAgainstReference(inputs: [("x", x), ("prev", prev)]) { g, v in
                [try g.shift(v["x"]!, previous: v["prev"]!, sequences: sequences),
                 try g.rows(v["x"]!, start: tokens - 1, count: 1, sequences: sequences),
                 try g.rows(v["x"]!, start: 0, count: tokens, sequences: sequences)]
            }
            // By hand: sequence 1's first shifted row is its previous row, its second is its own first row.
            if tokens >= 2 {
                var g = Graph()
                let xs = try g.input("x", .f32, Shape(24, sequences * tokens)), ps = try g.input("prev", .f32, Shape(24, sequences))
                try g.output(try g.shift(xs, previous: ps, sequences: sequences), "shifted")
                try g.output(try g.rows(xs, start: tokens - 1, count: 1, sequences: sequences), "last")
                let executor = Executor(graph: g, threads: 2)
                try executor.bind(xs, x)
                try executor.bind(ps, prev)
                try executor.run()
                let shifted = try executor.output("shifted").floats(), last = try executor.output("last").floats()
                let xv = x.floats(), pv = prev.floats()
                #expect(Array(shifted[(tokens * 24)..<(tokens * 24 + 24)]) == Array(pv[24..<48]))
                #expect(Array(shifted[(tokens * 24 + 24)..<(tokens * 24 + 48)]) == Array(xv[(tokens * 24)..<(tokens * 24 + 24)]))
                #expect(Array(last[24..<48]) == Array(xv[((2 * tokens - 1) * 24)..<(2 * tokens * 24)]))
            }
        }

        @Test(arguments: [(4, 1), (32, 5), (7, 3)])
    func vectorTimesTokenMatrix(_ rows: Int, tokens: Int) throws {
        let u = try randomTensor(Shape(rows, tokens), seed: 90)
        let m = try randomTensor(Shape(rows * 32, tokens), seed: 91)
        try checkAgainstReference(inputs: [("u", u), ("m", m)]) { g, v in [try g.vectorTimesTokenMatrix(v["u"]!, v["m"]!, columns: 32)] }
    }

    static let matmulCases: [(DType, Int, Int, Int)] = [
            (.f32, 37, 19, 1), (.f32, 37, 131, 6), (.f32, 96, 200, 1), (.f32, 64, 150, 70),
            (.f16, 37, 19, 1), (.f16, 100, 77, 4), (.bf16, 40, 33, 3),
            (.q8_0, 32, 17, 1), (.q8_0, 96, 45, 5), (.q4_0, 32, 17, 1), (.q4_0, 160, 70, 4),
            (.q8_0, 3072, 37, 9), (.q4_0, 768, 33, 7), (.f16, 771, 35, 9), (.q8_0, 64, 200, 2), (.q4_0, 64, 131, 3),
            // F16/BF16 around the panels (64 rows × 64 columns from AVX-512 on, 16 × 256 below; partial 8-row groups),
            // 6-token tiles and 96-token groups, from 2 to 130 tokens.
            (.bf16, 600, 64, 13), (.f16, 264, 130, 127), (.bf16, 40, 7, 128), (.f16, 64, 70, 130), (.f16, 5, 4, 2),
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

        @Test(arguments: [DType.f32, .f16, .q8_0, .q4_0])
        func getRows(_ type: DType) throws {
            let table = try randomTensor(Shape(64, 9), seed: 12).converted(to: type)
            let ids = try Tensor(int32: [3, 0, 8, 3, 5], shape: Shape(5))
            try checkAgainstReference(inputs: [("ids", ids)]) { g, v in [try g.getRows(g.weight(table), ids: v["ids"]!)] }
        }

        @Test func getRowsRejectsOutOfRangeIds() throws {
            var graph = Graph()
            let ids = try graph.input("ids", .i32, Shape(2))
            try graph.output(try graph.getRows(graph.weight(try randomTensor(Shape(8, 4), seed: 1)), ids: ids), "rows")
            let executor = Executor(graph: graph, threads: 2)
            try executor.bind("ids", try Tensor(int32: [1, 4], shape: Shape(2)))
            #expect(throws: ExecutionError("a kernel refused its input: a token id outside the embedding table or an attention cache past its capacity")) { try executor.run() }
            try executor.bind("ids", try Tensor(int32: [-1, 0], shape: Shape(2)))
            #expect(throws: ExecutionError.self) { try executor.run() }
            try executor.bind("ids", try Tensor(int32: [3, 0], shape: Shape(2)))
            try executor.run()
        }

        /// The WKV recurrence over several tokens and two runs (state carried), for N = 64 (the SIMD path)
        /// and an odd head size (the generic path).
        @Test(arguments: [(64, 2, 1), (64, 3, 9), (12, 3, 5), (64, 1, 33)])
        func wkv7(_ n: Int, heads: Int, t: Int) throws {
            let c = n * heads
            var tensors: [(String, Tensor)] = []
            for (i, name) in ["r", "k", "v"].enumerated() { tensors.append((name, try randomTensor(Shape(c, t), seed: UInt64(20 + i)))) }
            var generator = SeededGenerator(seed: 30)
            tensors.append(("w", try Tensor((0..<(c * t)).map { _ in 0.55 + 0.45 * abs(generator.nextSigned()) }, shape: Shape(c, t))))
            let kappa = try randomTensor(Shape(c, t), seed: 31).floats()
            let alpha = (0..<(c * t)).map { _ in abs(generator.nextSigned()) }
            tensors.append(("a", try Tensor(kappa.map { -$0 * 0.2 }, shape: Shape(c, t))))
            tensors.append(("b", try Tensor(zip(kappa, alpha).map { $0 * 0.2 * $1 }, shape: Shape(c, t))))
            let state = try randomTensor(Shape(n, n, heads), scale: 0.3, seed: 40)
            try checkAgainstReference(inputs: tensors, states: [("s", state)], tolerance: 2e-5) { g, v in
                [try g.wkv7(r: v["r"]!, w: v["w"]!, k: v["k"]!, v: v["v"]!, a: v["a"]!, b: v["b"]!, state: v["s"]!, headSize: n)]
            }
        }

        /// Cached causal attention (scores, softmax, mix) over `position` cached rows and `t` new ones, at
        /// every thread count: the outputs and the caches (new rows appended) against the reference.
        @Test(arguments: [(1, 0), (1, 37), (5, 20), (9, 0), (3, 61)])
        func cachedAttention(_ t: Int, position: Int) throws {
            let d = 32, c = 96, capacity = 64
            let inputs = [("q", try randomTensor(Shape(d, t), seed: 60)), ("k", try randomTensor(Shape(d, t), seed: 61)),
                          ("v", try randomTensor(Shape(c, t), seed: 62)), ("position", try Tensor(int32: [Int32(position)], shape: Shape(1)))]
            let caches = [("keys", try randomTensor(Shape(d, capacity), seed: 63)), ("values", try randomTensor(Shape(c, capacity), seed: 64))]
            try checkAgainstReference(inputs: inputs, states: caches, runs: 1) { g, v in
                let scores = try g.attentionScores(queries: v["q"]!, keys: v["k"]!, keyCache: v["keys"]!, position: v["position"]!,
                                                   softCap: 8, scale: 0.25)
                let probabilities = try g.softmaxRows(scores)
                return [probabilities, try g.attentionMix(probabilities: probabilities, values: v["v"]!, valueCache: v["values"]!,
                                                          position: v["position"]!)]
            }
        }

        @Test func attentionPastItsCapacityIsAnError() throws {
            var graph = Graph()
            let q = try graph.input("q", .f32, Shape(8, 2)), position = try graph.input("position", .i32, Shape(1))
            let cache = try graph.state("keys", Shape(8, 4))
            try graph.output(try graph.softmaxRows(try graph.attentionScores(queries: q, keys: q, keyCache: cache, position: position,
                                                                             softCap: 1, scale: 1)), "p")
            let executor = Executor(graph: graph, threads: 2)
            try executor.bind("q", try randomTensor(Shape(8, 2), seed: 1))
            try executor.bind("keys", try Tensor(zeros: .f32, Shape(8, 4)))
            try executor.bind("position", try Tensor(int32: [2], shape: Shape(1)))
            try executor.run()
            try executor.bind("position", try Tensor(int32: [3], shape: Shape(1)))
            #expect(throws: ExecutionError.self) { try executor.run() }
            #expect(throws: GraphError.self) {
                var g = Graph()
                let x = try g.input("x", .f32, Shape(8, 2))
                _ = try g.attentionScores(queries: x, keys: x, keyCache: try g.state("c", Shape(8, 4)), position: x, softCap: 1, scale: 1)
            }
        }

        /// A chain resembling one RWKV block, with slots read before and written after.
        @Test(arguments: [1, 4])
        func chainOfOps(_ t: Int) throws {
            let c = 128, n = 64
            let x = try randomTensor(Shape(c, t), seed: 50)
            let shiftState = try randomTensor(Shape(c), seed: 51)
            let wkvState = try randomTensor(Shape(n, n, c / n), scale: 0.1, seed: 52)
            let weights = try (0..<4).map { try randomTensor(Shape(c, c), scale: 0.1, seed: 60 + UInt64($0)) }
            let mu = try randomTensor(Shape(c), seed: 70), ones = try Tensor([Float](repeating: 1, count: c), shape: Shape(c))
            try checkAgainstReference(inputs: [("x", x)], states: [("shift", shiftState), ("wkv", wkvState)], tolerance: 5e-5) { g, v in
                let norm = try g.layerNorm(v["x"]!, weight: g.weight(ones), bias: g.weight(mu), eps: 1e-5)
                let mixed = try g.lerp(norm, try g.shift(norm, previous: v["shift"]!), g.weight(mu))
                let r = try g.matmul(g.weight(weights[0]), mixed)
                let k = try g.l2NormalizeHeads(try g.matmul(g.weight(weights[1]), mixed), headSize: n, eps: 1e-12)
                let value = try g.tanh(try g.matmul(g.weight(weights[2]), norm))
                let decay = try g.exp(try g.scale(try g.sigmoid(r), -0.606531))
                let y = try g.wkv7(r: r, w: decay, k: k, v: value, a: try g.scale(k, -1), b: try g.scale(k, 0.5), state: v["wkv"]!, headSize: n)
                let out = try g.add(v["x"]!, try g.matmul(g.weight(weights[3]), try g.groupNorm(y, weight: g.weight(ones), bias: g.weight(mu), groups: c / n, eps: 64e-5)))
                try g.store(try g.rows(norm, start: t - 1, count: 1), into: v["shift"]!)
                return [out, try g.unary(.reluSquared, out)]
            }
        }
    }
}
