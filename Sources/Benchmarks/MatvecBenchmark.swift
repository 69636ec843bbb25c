import Tensor

/// Times a decode-shaped matrix-vector product (weights `[K, M]` times one f32 column) through the
/// graph executor, per dtype and thread count, and relates it to the read bandwidth.
public struct MatvecBenchmark {
    /// One measured configuration.
    public struct Row: Sendable, Codable, Equatable {
        public let dtype: String
        public let threads: Int
        public let rows: Int
        public let columns: Int
        /// Bytes of the weight matrix (read once per product).
        public let weightBytes: Int
        /// Median seconds per product.
        public let seconds: Double
        /// Weight bytes per second, in GB/s.
        public let gigabytesPerSecond: Double
        /// The read bandwidth at this thread count, GB/s.
        public let readBandwidth: Double
        /// `gigabytesPerSecond / readBandwidth`, in percent.
        public let percentOfBandwidth: Double

        public init(dtype: String, threads: Int, rows: Int, columns: Int, weightBytes: Int, seconds: Double,
                    gigabytesPerSecond: Double, readBandwidth: Double, percentOfBandwidth: Double) {
            self.dtype = dtype
            self.threads = threads
            self.rows = rows
            self.columns = columns
            self.weightBytes = weightBytes
            self.seconds = seconds
            self.gigabytesPerSecond = gigabytesPerSecond
            self.readBandwidth = readBandwidth
            self.percentOfBandwidth = percentOfBandwidth
        }
    }

    /// A random `[columns, rows]` weight of `dtype`, generated row by row directly in that dtype.
    public static func randomWeight(_ dtype: DType, columns: Int, rows: Int, seed: UInt64) throws -> Tensor {
        let tensor = try Tensor(zeros: dtype, Shape(columns, rows))
        var generator = SeededGenerator(seed: seed)
        var row = [Float](repeating: 0, count: columns)
        tensor.withUnsafeMutableBytes { raw in
            for r in 0..<rows {
                for i in 0..<columns { row[i] = generator.nextSigned() * 0.05 }
                row.withUnsafeBufferPointer { dtype.encode($0.baseAddress!, into: raw.baseAddress! + r * tensor.rowBytes, count: columns) }
            }
        }
        return tensor
    }

    /// Bytes the timed products read in all, at least: far beyond any last-level cache, so a small matrix
    /// (a Q4_0 head is 28 MB) is read from memory, as a model's weights are, not from the cache.
    public static let minimumBytesRead = 512 << 20

    /// Median seconds of one product of `weight` with a random column on `threads` threads. Enough copies of
    /// the weight to read ``minimumBytesRead`` are multiplied in each timed run.
    public static func time(weight: Tensor, threads: Int, minimumSeconds: Double = 0.5) throws -> Double {
        let copies = max(1, (minimumBytesRead + weight.byteCount - 1) / max(weight.byteCount, 1))
        // The copies lie back to back in one arena, as a model's weights do.
        var arena = WeightArena(byteCount: copies * WeightArena.footprint(weight.dtype, weight.shape))
        var graph = Graph()
        let x = try graph.input("x", .f32, Shape(weight.shape[0], 1))
        var y = try graph.matmul(graph.weight(try arena.place(weight)), x)
        for _ in 1..<copies {
            // Summed so every product is computed; being independent, they share one phase across the threads.
            y = try graph.add(y, try graph.matmul(graph.weight(try arena.place(weight)), x))
        }
        try graph.output(y, "y")
        let executor = Executor(graph: graph, threads: threads)
        var generator = SeededGenerator(seed: 7)
        try executor.bind("x", try Tensor(generator.floats(weight.shape[0]), shape: Shape(weight.shape[0], 1)))
        try executor.run()
        let clock = ContinuousClock()
        var samples: [Double] = []
        let begin = clock.now
        while samples.count < 5 || ((clock.now - begin).seconds < minimumSeconds && samples.count < 1000) {
            let start = clock.now
            try executor.run()
            samples.append((clock.now - start).seconds)
        }
        return samples.median / Double(copies)
    }
}
