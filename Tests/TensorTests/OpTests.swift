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
