import ModelFiles
import RWKVGraph
import Tensor
import Testing

@Suite struct BenchmarkTests {
    /// The read-bandwidth probe runs just before and just after the decode repetitions, and the decode row's
    /// roofline is the mean of the two; prefill rows carry none.
    @Test func probesBracketTheDecodeRuns() throws {
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("random-rwkv7.pth")))
        let bytesPerToken = weights.bytesPerToken
        let benchmark = try ModelBenchmark(weights: weights, modelName: "tiny", typeName: "f32")
        var probes: [Int] = []
        let rows = try benchmark.run(threads: 2, prompt: 8, generate: 4, repetitions: 2, bandwidthProbe: { threads in
            probes.append(threads)
            return probes.count == 1 ? 10 : 30
        })
        #expect(probes == [2, 2])
        #expect(rows.map(\.test) == ["pp8", "tg4"] && rows[0].readBandwidth == nil && rows[0].percentOfBandwidth == nil)
        let decode = rows[1]
        #expect(decode.readBandwidth == 20 && decode.samples.count == 2 && decode.peakResidentBytes > 0)
        let rate = Double(bytesPerToken) * decode.mean / 1e9
        #expect(abs(decode.gigabytesPerSecond! - rate) < 1e-9 && abs(decode.percentOfBandwidth! - rate / 20 * 100) < 1e-9)
    }
}
