import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

/// F32 logits against the official `rwkv` package (tools/gen_reference_logits.py) and rwkv.cpp's tiny model.
@Suite struct ReferenceLogitsTests {
    static let reference = Result { try LogitsDump.read(Fixtures.path("random-rwkv7.logits.safetensors")) }
    static let model = Result { try RWKV7Model(path: Fixtures.path("random-rwkv7.pth")) }

    /// Every position within 1e-4 of the official RWKV_x070 in fp32, for whole-sequence prefill and
    /// token-by-token decode.
    @Test(arguments: [72, 1, 7, 64])
    func matchesOfficialPackage(chunk: Int) throws {
        let reference = try Self.reference.get()
        let session = try RWKV7Session(model: try Self.model.get(), threads: 2)
        let logits = try session.process(reference.tokens, chunk: chunk, allLogits: true)
        #expect(logits.count == reference.tokens.count)
        var worst: Float = 0
        for t in logits.indices { worst = max(worst, maxAbsDifference(logits[t], reference.row(t))) }
        print("official fixture, chunk \(chunk): max |Δlogit| = \(worst)")
        #expect(worst <= 1e-4)
    }

    /// The project's own trained model (models/, converted to GGUF by `rwkv convert`) against the official
    /// package's logits on its .pth (tools/train_tiny.py), every position, prefill and decode.
    @Test(arguments: [80, 1])
    func ourTrainedModelMatchesOfficialPackage(chunk: Int) throws {
        let repository = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = try RWKV7Model(path: repository.appendingPathComponent("models/rwkv7-tiny-stories.gguf").path)
        let reference = try LogitsDump.read(Fixtures.path("rwkv7-tiny-stories.logits.safetensors"))
        let logits = try RWKV7Session(model: model, threads: 2).process(reference.tokens, chunk: chunk, allLogits: true)
        let worst = logits.indices.map { maxAbsDifference(logits[$0], reference.row($0)) }.max()!
        print("tiny-stories vs official, chunk \(chunk): max |Δlogit| = \(worst)")
        #expect(worst <= 1e-4)
    }

    /// rwkv.cpp's tiny model: our check (max |Δ| ≤ 1e-5) and rwkv.cpp's own (|Σ Δ| within its bound),
    /// serially, as one sequence and in chunks, for the FP32 and FP16 files.
    @Test(.enabled(if: Fixtures.hasShared("tiny-rwkv-7v0-834K-FP32.bin", "tiny-rwkv-7v0-834K-FP16.bin", "expected-logits-7v0-834K.bin"), "needs ../shared/models"),
          arguments: [("tiny-rwkv-7v0-834K-FP32.bin", Float(1.05 * 0.001)), ("tiny-rwkv-7v0-834K-FP16.bin", Float(1.05 * 0.005766))])
    func matchesRwkvCppTinyModel(_ file: String, bound: Float) throws {
        let path = Fixtures.shared(file)!, expected = try Fixtures.rwkvCppExpectedLogits()!
        let session = try RWKV7Session(model: try RWKV7Model(path: path), threads: 2)
        let tokens: [Int32] = [34, 105, 110]
        for chunk in [3, 1, 2] {
            session.reset()
            let logits = try session.process(tokens, chunk: chunk)[0]
            let sum = zip(logits, expected).reduce(Float(0)) { $0 + ($1.0 - $1.1) }
            #expect(maxAbsDifference(logits, expected) <= 1e-5, "\(file) chunk \(chunk)")
            #expect(abs(sum) <= bound, "\(file) chunk \(chunk): Σ Δ = \(sum)")
            #expect(logits.indices.max { logits[$0] < logits[$1] } == 32)
        }
    }

    /// spec/tests.md §3.5: the 44 bytes of "The quick brown fox jumps over the lazy dog." on the FP32 file.
    @Test(.enabled(if: Fixtures.hasShared("tiny-rwkv-7v0-834K-FP32.bin"), "needs ../shared/models"))
    func longerSequenceOnTinyModel() throws {
        let path = Fixtures.shared("tiny-rwkv-7v0-834K-FP32.bin")!
        let session = try RWKV7Session(model: try RWKV7Model(path: path), threads: 1)
        let tokens = Array("The quick brown fox jumps over the lazy dog.".utf8).map(Int32.init)
        let logits = try session.process(tokens, chunk: 16, allLogits: true)
        let expectations: [(Int, Int, Float, Float)] = [(0, 104, 0.515332, -52.127222), (1, 101, 1.640759, -67.593215),
                                                        (2, 32, 3.736288, -82.787245), (10, 101, 0.749980, -68.949555),
                                                        (43, 32, 4.032593, -57.230781)]
        for (position, argmax, space, sum) in expectations {
            let row = logits[position]
            #expect(row.indices.max { row[$0] < row[$1] } == argmax)
            #expect(abs(row[32] - space) <= 1e-5)
            #expect(abs(row.reduce(0, +) - sum) <= 1e-5 * abs(sum))
        }
        let last = logits[43]
        let first8: [Float] = [0.389060, 0.319907, -1.186539, -0.135361, 0.211944, -0.041340, -1.056929, -0.373227]
        #expect(maxAbsDifference(last.prefix(8), first8) <= 1e-5)
        // The state's orientation: S[0][1][2] of layer 0 and 11 (row = value channel).
        let state = session.state
        let l0 = state.ranges(layer: 0), l11 = state.ranges(layer: 11)
        #expect(abs(state.values[l0.wkv.lowerBound + 1 * 64 + 2] - 0.356373) <= 1e-5)
        #expect(abs(state.values[l11.wkv.lowerBound + 1 * 64 + 2] - -0.140608) <= 1e-5)
        #expect(abs(state.values[l0.attShift].reduce(0, +) - 0.041723) <= 1e-5)
        #expect(abs(state.values[l11.ffnShift].reduce(0, +) - 0.060549) <= 1e-5)
    }
}
