import Benchmarks
import ModelFiles
import RWKVGraph
import Tensor
import Testing

@Suite struct BenchmarkTests {
    /// The read-bandwidth probe runs before the decode repetitions and after each one; each repetition's % is
    /// taken against the mean of the probes around it, the row's % is their median; prefill rows carry none.
    @Test func probesBracketEachDecodeRepetition() throws {
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("random-rwkv7.pth")))
        let bytesPerToken = Double(weights.bytesPerToken)
        let benchmark = try ModelBenchmark(weights: weights, modelName: "tiny", typeName: "f32")
        var probes: [Int] = []
        let rows = try benchmark.run(threads: 2, prompt: 8, generate: 4, repetitions: 3, bandwidthProbe: { threads in
            probes.append(threads)
            return [10, 30, 50, 70][probes.count - 1]
        })
        #expect(probes == [2, 2, 2, 2])
        #expect(rows.map(\.test) == ["pp8", "tg4"] && rows[0].readBandwidth == nil && rows[0].percentOfBandwidth == nil)
        let decode = rows[1]
        #expect(decode.readBandwidth == 40 && decode.samples.count == 3 && decode.peakResidentBytes > 0)
        #expect(abs(decode.gigabytesPerSecond! - bytesPerToken * decode.mean / 1e9) < 1e-9)
        let percents = zip(decode.samples, [20.0, 40, 60]).map { bytesPerToken * $0 / 1e9 / $1 * 100 }.sorted()
        #expect(abs(decode.percentOfBandwidth! - percents[1]) < 1e-9)
    }
}
