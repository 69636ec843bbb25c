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

    /// A batched row says how many sequences share a step, and its GB/s counts the weights once per step.
    @Test func batchedRowsReadTheWeightsOncePerStep() throws {
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("random-rwkv7.pth")))
        let bytesPerToken = Double(weights.bytesPerToken)
        let benchmark = try ModelBenchmark(weights: weights, modelName: "tiny", typeName: "f32")
        let rows = try benchmark.run(threads: 1, prompt: 0, generate: 4, repetitions: 2, batches: [1, 3])
        #expect(rows.map(\.test) == ["tg4", "tg4 b3"] && rows.map(\.sequences) == [1, 3])
        #expect(abs(rows[1].gigabytesPerSecond! - bytesPerToken / 3 * rows[1].mean / 1e9) < 1e-9)
        // With a prompt: B prompts prefilled together too (llama-batched-bench's S_PP), no GB/s for prefill.
        let both = try benchmark.run(threads: 1, prompt: 6, generate: 2, repetitions: 1, batches: [1, 2])
        #expect(both.map(\.test) == ["pp6", "tg2", "pp6 b2", "tg2 b2"] && both.map(\.sequences) == [1, 1, 2, 2])
        #expect(both[2].gigabytesPerSecond == nil && both[2].mean > 0)
    }

    /// `--shape` sizes have the released checkpoints' layers, widths and LoRA ranks, and so their parameter
    /// counts (0.19, 0.45, 1.53, 2.95, 7.2 and 13.3 billion as published, within 3 %).
    @Test(arguments: [("0.1b", 12, 768, 64, 32, 128, 0.191e9), ("0.4b", 24, 1024, 64, 32, 128, 0.450e9),
                      ("1.5b", 24, 2048, 96, 64, 256, 1.527e9), ("2.9b", 32, 2560, 96, 64, 320, 2.948e9),
                      ("7.2b", 32, 4096, 128, 96, 480, 7.2e9), ("13.3b", 61, 4096, 192, 128, 384, 13.3e9)])
    func officialShapes(_ expected: (name: String, layers: Int, embedding: Int, decay: Int, value: Int, gate: Int, parameters: Double)) throws {
        let h = try #require(RandomModel.shape(named: expected.name))
        #expect(h.layers == expected.layers && h.embedding == expected.embedding && h.ffnSize == 4 * expected.embedding)
        #expect(h.decayRank == expected.decay && h.iclrRank == expected.decay && h.valueRank == expected.value && h.gateRank == expected.gate)
        #expect(abs(Double(h.parameterCount) / expected.parameters - 1) < 0.03, "\(h.parameterCount) parameters")
        let deepEmbed = try #require(RandomModel.shape(named: expected.name.uppercased() + "-de"))
        #expect(deepEmbed.deepEmbedRank == 32 && deepEmbed.layers == h.layers)
        #expect(RandomModel.shapeNames.contains(expected.name) && RandomModel.shapeNames.contains(expected.name + "-de"))
    }

    @Test func unknownShapesAreNil() {
        #expect(RandomModel.shape(named: "3b") == nil && RandomModel.shape(named: "-de") == nil && RandomModel.shape(named: "") == nil)
    }
}
