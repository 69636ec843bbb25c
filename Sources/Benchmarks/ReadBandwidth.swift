import CKernels
import Tensor

/// Measures how fast the machine streams memory into the cores: every thread reads its contiguous share
/// of a large buffer (≥ 1 GiB, far beyond the caches) with the f32 decode matvec's loop (rows of 1024 floats
/// against a column of ones) — of the loops tried, the one that reads fastest on Zen 4 (a plain 8-way
/// sum read 7–15 % less), so the roofline is the best this code streams. The buffer is on huge pages, as a
/// model's weights are (``WeightArena``). The median of several passes is reported, the same statistic as
/// the kernel timings it is compared with.
public struct ReadBandwidth: @unchecked Sendable {
    public let bytes: Int
    private let buffer: TensorStorage

    /// Allocates and touches a `bytes`-byte buffer (rounded to 64 KiB).
    public init(bytes: Int = 1 << 30) {
        self.bytes = max(1 << 16, bytes / (1 << 16) * (1 << 16))
        buffer = TensorStorage(zeroedByteCount: self.bytes, hugePages: true)
        let floats = buffer.base.assumingMemoryBound(to: Float.self)
        for i in stride(from: 0, to: self.bytes / 4, by: 1024) { floats[i] = Float(i & 7) }
    }

    /// GB/s (10⁹ bytes per second) with `threads` readers: the median of `passes` full passes.
    public func measure(threads: Int, passes: Int = 9) -> Double {
        let team = WorkerTeam(threads: threads)
        let ones = UnsafeMutablePointer<Float>.allocate(capacity: Self.rowFloats)
        ones.initialize(repeating: 1, count: Self.rowFloats)
        var job = Job(base: UnsafeRawPointer(buffer.base), bytes: bytes, sums: .allocate(capacity: threads * 16), ones: ones)
        defer {
            job.sums.deallocate()
            ones.deallocate()
        }
        var samples: [Double] = []
        let clock = ContinuousClock()
        for pass in 0..<(passes + 1) {
            let start = clock.now
            withUnsafeMutablePointer(to: &job) { team.run(ReadBandwidth.body, context: UnsafeMutableRawPointer($0)) }
            if pass > 0 { samples.append((clock.now - start).seconds) }
        }
        return Double(bytes) / samples.median / 1e9
    }

    private struct Job {
        var base: UnsafeRawPointer
        var bytes: Int
        var sums: UnsafeMutablePointer<Float>
        var ones: UnsafeMutablePointer<Float>
    }

    /// Floats per matvec row of the probe.
    static let rowFloats = 1024

    private static let body: TeamBody = { context, ith, nth in
        let job = context!.assumingMemoryBound(to: Job.self).pointee
        let rowBytes = ReadBandwidth.rowFloats * 4
        let chunk = job.bytes / Int(nth) / rowBytes * rowBytes
        let start = Int(ith) * chunk
        let end = ith == nth - 1 ? job.bytes / rowBytes * rowBytes : start + chunk
        let floats = job.base.assumingMemoryBound(to: Float.self)
        let matvec = Kernels.current[\.matmul_f32]!
        var total: Float = 0, dot: Float = 0
        for row in stride(from: start / 4, to: end / 4, by: ReadBandwidth.rowFloats) {
            matvec(floats + row, job.ones, &dot, Int64(ReadBandwidth.rowFloats), 1, 1, 0, 1)
            total += dot
        }
        job.sums[Int(ith) * 16] = total
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
