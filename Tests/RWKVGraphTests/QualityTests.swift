import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

/// Precision against F32 (docs/quality.md has the measured table; the bounds here leave honest margins).
@Suite struct QualityTests {
    static let text = Array("In the beginning was the Word, and the Word was with God. The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.".utf8).map(Int32.init)

    static func logits(_ weights: RWKV7Weights, _ tokens: [Int32], type: DType?) throws -> LogitsDump {
        let model = try RWKV7Model(try weights.converted(toRunAt: type))
        let rows = try RWKV7Session(model: model, threads: 2).process(tokens, chunk: 64, allLogits: true)
        return LogitsDump(tokens: tokens, vocabularySize: model.hyperparameters.vocabularySize, logits: rows.flatMap { $0 })
    }

    /// The trained tiny model (rwkv.cpp's): F16 ≈ exact, Q8_0 top-1 ≥ 99 % and KL ≤ 1e-4, Q4_0 KL ≤ 1e-3.
    @Test(.enabled(if: Fixtures.hasShared("tiny-rwkv-7v0-834K-FP32.bin"), "needs ../shared/models"))
    func trainedTinyModel() throws {
        let path = Fixtures.shared("tiny-rwkv-7v0-834K-FP32.bin")!
        let weights = try RWKV7Weights(try Checkpoint.open(path))
        let reference = try Self.logits(weights, Self.text, type: .f32)
        let f16 = try LogitsComparison(reference: reference, candidate: try Self.logits(weights, Self.text, type: .f16))
        #expect(f16.maxAbsDifference <= 1e-4)
        let q8 = try LogitsComparison(reference: reference, candidate: try Self.logits(weights, Self.text, type: .q8_0))
        #expect(q8.top1Agreement >= 0.99 && q8.meanKL <= 1e-4 && q8.maxAbsDifference <= 0.05)
        let q4 = try LogitsComparison(reference: reference, candidate: try Self.logits(weights, Self.text, type: .q4_0))
        #expect(q4.top1Agreement >= 0.98 && q4.meanKL <= 1e-3)
        print("tiny model vs f32: f16 \(f16.maxAbsDifference); q8_0 KL \(q8.meanKL) top1 \(q8.top1Agreement); q4_0 KL \(q4.meanKL) top1 \(q4.top1Agreement)")
    }

    /// Our own trained model (models/): F16 max |Δ| ≤ 2e-2, Q8_0 top-1 ≥ 99 % and KL ≤ 1e-4, Q4_0 KL ≤ 1e-2.
    @Test func ourTrainedModel() throws {
        let repository = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let weights = try RWKV7Weights(try Checkpoint.open(repository.appendingPathComponent("models/rwkv7-tiny-stories.gguf").path))
        let text = Array("In the meadow, there lived a curious rabbit called Mia. The sun was shining. One day, Mia hopped to the lake and found an old book. Mia felt surprised. \"What is this?\" Mia asked. Then Leo the owl saw Mia and smiled.".utf8).map(Int32.init)
        let reference = try Self.logits(weights, text, type: .f32)
        let f16 = try LogitsComparison(reference: reference, candidate: try Self.logits(weights, text, type: .f16))
        let q8 = try LogitsComparison(reference: reference, candidate: try Self.logits(weights, text, type: .q8_0))
        let q4 = try LogitsComparison(reference: reference, candidate: try Self.logits(weights, text, type: .q4_0))
        #expect(f16.maxAbsDifference <= 2e-2)
        #expect(q8.top1Agreement >= 0.99 && q8.meanKL <= 1e-4)
        #expect(q4.meanKL <= 1e-2 && q4.top1Agreement >= 0.97)
    }

    /// rwkv.cpp's quantized checks: only the six projection matrices quantized (rwkv.cpp's set), ggml's
    /// arithmetic (reference quantizers, Q8_0 activations): Σ(logits − expected) within 1e-4 of the values
    /// measured for ggml (spec/tests.md §2), argmax 32.
    @Test(.enabled(if: Fixtures.hasShared("tiny-rwkv-7v0-834K-FP32.bin", "expected-logits-7v0-834K.bin"), "needs ../shared/models"),
          arguments: [(DType.q8_0, 0.011921), (.q4_0, 0.136785)])
    func rwkvCppQuantizedSums(_ type: DType, expectedSum: Double) throws {
        let path = Fixtures.shared("tiny-rwkv-7v0-834K-FP32.bin")!, expected = try Fixtures.rwkvCppExpectedLogits()!
        let weights = try RWKV7Weights(try Checkpoint.open(path))
        let projections = ["time_mix_receptance", "time_mix_key", "time_mix_value", "time_mix_output", "channel_mix_key", "channel_mix_value"]
        let quantized = try RWKV7Conversion.apply(weights) { name, tensor in
            projections.contains { name.hasSuffix($0 + ".weight") } ? type : tensor.dtype
        }
        for chunk in [3, 1] {
            let logits = try RWKV7Session(model: try RWKV7Model(quantized)).process([34, 105, 110], chunk: chunk)[0]
            let sum = zip(logits, expected).reduce(0.0) { $0 + Double($1.0 - $1.1) }
            #expect(abs(sum - expectedSum) <= 1e-4, "\(type) chunk \(chunk): Σ Δ = \(sum)")
            #expect(logits.indices.max { logits[$0] < logits[$1] } == 32)
            #expect(maxAbsDifference(logits, expected) <= (type == .q8_0 ? 0.005 : 0.05))
        }
    }

    /// The random fixture model (random weights magnify quantization noise): looser bounds.
    @Test func randomModel() throws {
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("random-rwkv7.pth")))
        let tokens = try LogitsDump.read(Fixtures.path("random-rwkv7.logits.safetensors")).tokens
        let reference = try Self.logits(weights, tokens, type: .f32)
        #expect(try LogitsComparison(reference: reference, candidate: try Self.logits(weights, tokens, type: .f16)).maxAbsDifference <= 1e-4)
        #expect(try LogitsComparison(reference: reference, candidate: try Self.logits(weights, tokens, type: .q8_0)).meanKL <= 2e-3)
        #expect(try LogitsComparison(reference: reference, candidate: try Self.logits(weights, tokens, type: .q4_0)).meanKL <= 0.2)
    }

    /// Running an F32 file at Q4_0 equals `rwkv quantize` then running the quantized file, bit for bit.
    @Test(arguments: [DType.q4_0, .q8_0, .f16])
    func typeAtLoadEqualsQuantizedFile(_ type: DType) throws {
        let scratch = try ScratchDirectory()
        let source = try RWKV7Weights(try Checkpoint.open(Fixtures.path("random-rwkv7.pth")))
        let f32 = try RWKV7Conversion.apply(source) { RWKV7Conversion.convertType($0, $1, to: QuantizationPlan(.f32)) }
        try RWKV7GGUF.writer(for: f32, name: "f32").write(to: scratch.path("f32.gguf"))
        let fromFile = try RWKV7Weights(try Checkpoint.open(scratch.path("f32.gguf")))
        let quantized = try RWKV7Conversion.apply(fromFile) { RWKV7Conversion.quantizeType($0, $1, to: QuantizationPlan(type)) }
        try RWKV7GGUF.writer(for: quantized, name: "q").write(to: scratch.path("q.gguf"))
        let tokens: [Int32] = [5, 900, 17, 2047, 0, 33, 1024]
        let direct = try Self.logits(fromFile, tokens, type: type)
        let viaFile = try Self.logits(try RWKV7Weights(try Checkpoint.open(scratch.path("q.gguf"))), tokens, type: nil)
        #expect(direct.logits.map(\.bitPattern) == viaFile.logits.map(\.bitPattern))
    }
}
