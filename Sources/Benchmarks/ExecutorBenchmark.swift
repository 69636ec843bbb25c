import Tensor

/// Measures the executor's fixed costs: barrier latency (a chain of tiny dependent nodes, one phase
/// each, not folded) and the time of a small graph, per thread backend.
public enum ExecutorBenchmark {
    /// Median nanoseconds per phase of a chain of `length` dependent 64-wide adds.
    public static func barrierNanoseconds(threads: Int, length: Int = 256) throws -> Double {
        var graph = Graph()
        let x = try graph.input("x", .f32, Shape(64, 1))
        var value = x
        for _ in 0..<length { value = try graph.add(value, x) }
        try graph.output(value, "y")
        let executor = Executor(graph: graph, threads: threads, foldingElementwise: false)
        try executor.bind("x", try Tensor(zeros: .f32, Shape(64, 1)))
        return try median(executor, runs: 200) / Double(executor.phaseCount) * 1e9
    }

    /// Median microseconds of one run of a small decode-like graph: `layers` blocks of LayerNorm,
    /// three 256×256 matvecs, sigmoid, multiply and add.
    public static func smallGraphMicroseconds(threads: Int, layers: Int = 8) throws -> Double {
        let c = 256
        var graph = Graph()
        var generator = SeededGenerator(seed: 3)
        var x = try graph.input("x", .f32, Shape(c, 1))
        let ones = graph.weight(try Tensor([Float](repeating: 1, count: c), shape: Shape(c)))
        let zeros = graph.weight(try Tensor(zeros: .f32, Shape(c)))
        for _ in 0..<layers {
            let n = try graph.layerNorm(x, weight: ones, bias: zeros, eps: 1e-5)
            let r = try graph.matmul(graph.weight(try Tensor(generator.floats(c * c, scale: 0.05), shape: Shape(c, c))), n)
            let k = try graph.matmul(graph.weight(try Tensor(generator.floats(c * c, scale: 0.05), shape: Shape(c, c))), n)
            let gate = try graph.sigmoid(r)
            let mixed = try graph.mul(gate, k)
            let o = try graph.matmul(graph.weight(try Tensor(generator.floats(c * c, scale: 0.05), shape: Shape(c, c))), mixed)
            x = try graph.add(x, o)
        }
        try graph.output(x, "y")
        let executor = Executor(graph: graph, threads: threads)
        try executor.bind("x", try Tensor(generator.floats(c), shape: Shape(c, 1)))
        return try median(executor, runs: 500) * 1e6
    }

    static func median(_ executor: Executor, runs: Int) throws -> Double {
        let clock = ContinuousClock()
        for _ in 0..<20 { try executor.run() }
        var samples: [Double] = []
        for _ in 0..<runs {
            let start = clock.now
            try executor.run()
            samples.append((clock.now - start).seconds)
        }
        return samples.median
    }
}
