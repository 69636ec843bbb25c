import CKernels

/// Measures how fast the machine streams memory into the cores: every thread sums its contiguous share
/// of a large buffer (≥ 1 GiB, far beyond the caches); the median of several passes is reported, the
/// same statistic as the kernel timings it is compared with.
public struct ReadBandwidth {
    public let bytes: Int
    private let buffer: TensorStorage

    /// Allocates and touches a `bytes`-byte buffer (rounded to 64 KiB).
    public init(bytes: Int = 1 << 30) {
        self.bytes = max(1 << 16, bytes / (1 << 16) * (1 << 16))
        buffer = TensorStorage(zeroedByteCount: self.bytes)
        let floats = buffer.base.assumingMemoryBound(to: Float.self)
        for i in stride(from: 0, to: self.bytes / 4, by: 1024) { floats[i] = Float(i & 7) }
    }

    /// GB/s (10⁹ bytes per second) with `threads` readers: the median of `passes` full passes.
    public func measure(threads: Int, passes: Int = 9, backend: ThreadBackend = .swift) -> Double {
        let team = WorkerTeam(threads: threads, backend: backend)
        var job = Job(base: UnsafeRawPointer(buffer.base), bytes: bytes, sums: .allocate(capacity: threads * 16))
        defer { job.sums.deallocate() }
        var samples: [Double] = []
        let clock = ContinuousClock()
        for pass in 0..<(passes + 1) {
            let start = clock.now
            withUnsafeMutablePointer(to: &job) { team.run(ReadBandwidth.body, context: UnsafeMutableRawPointer($0)) }
            if pass > 0 { samples.append((clock.now - start).seconds) }
        }
        samples.sort()
        return Double(bytes) / samples[samples.count / 2] / 1e9
    }

    private struct Job {
        var base: UnsafeRawPointer
        var bytes: Int
        var sums: UnsafeMutablePointer<Float>
    }

    private static let body: TeamBody = { context, ith, nth in
        let job = context!.assumingMemoryBound(to: Job.self).pointee
        let chunk = job.bytes / Int(nth) / 64 * 64
        let start = Int(ith) * chunk
        let end = ith == nth - 1 ? job.bytes : start + chunk
        let floats = job.base.assumingMemoryBound(to: Float.self)
        job.sums[Int(ith) * 16] = rwkv_stream_sum(floats + start / 4, Int64((end - start) / 4))
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
