import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

@Suite struct SessionTests {
    static let model = Result { try RWKV7Model(path: Fixtures.path("random-rwkv7.pth")) }
    static let tokens = Result { try LogitsDump.read(Fixtures.path("random-rwkv7.logits.safetensors")).tokens }

    /// A model whose packed weights exceed the memory available is refused before anything is allocated,
    /// with the bytes it needs and the bytes available; one that fits loads.
    @Test func modelsThatDoNotFitAreRefused() throws {
        let path = Fixtures.path("random-rwkv7.pth")
        let weights = try RWKV7Weights(try Checkpoint.open(path))
        let needed = RWKV7Tensor.decodeReadOrder(weights.hyperparameters).reduce(0) { total, entry in
            let tensor = weights.tensors[entry.tensor.ggufName(layer: entry.layer ?? 0)]!
            return total + WeightArena.footprint(tensor.dtype, tensor.shape)
        }
        do {
            _ = try RWKV7Model(weights, availableMemory: needed - 1)
            Issue.record("a model needing \(needed) bytes loaded with \(needed - 1) available")
        } catch let error as ModelFileError {
            #expect(error.path == path)
            #expect(error.problem == "the model (packed weights) needs \(needed) bytes (\(String(format: "%.2f", Double(needed) / Double(1 << 30))) GiB) of memory; only \(needed - 1) bytes (0.00 GiB) are available")
        }
        _ = try RWKV7Model(weights, availableMemory: needed)
        _ = try RWKV7Model(weights, availableMemory: nil)
        #expect(SystemMemory.availableBytes().map { $0 > 0 } ?? true)
    }

    /// Logits are bit-identical for 1, 2, 3 and 4 threads, in prefill and in decode.
    @Test(arguments: [72, 1])
    func bitIdenticalAcrossThreadCounts(chunk: Int) throws {
        let tokens = Array(try Self.tokens.get().prefix(chunk == 1 ? 12 : 72))
        var first: [[UInt32]]?
        for threads in [1, 2, 3, 4] {
            let session = try RWKV7Session(model: try Self.model.get(), threads: threads)
            let bits = try session.process(tokens, chunk: chunk, allLogits: true).map { $0.map(\.bitPattern) }
            let stateBits = session.state.values.map(\.bitPattern)
            if let first {
                #expect(bits == first, "\(threads) threads differ from 1")
            } else {
                first = bits
            }
            _ = stateBits
        }
    }

    /// Every matmul weight lives in one arena, back to back in the order decode reads them (the head last),
    /// values unchanged from the file; Q8_0 matrices run in the r8 layout.
    @Test(arguments: [DType.f32, .q8_0])
    func matmulWeightsShareOneArenaInReadOrder(_ type: DType) throws {
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("random-rwkv7.pth"))).converted(toRunAt: type)
        let model = try RWKV7Model(weights)
        var ordered: [(String, Tensor)] = []
        for (i, l) in model.layers.enumerated() {
            let valueResidual = [("v1", l.v1), ("v2", l.v2)].compactMap { name, t in t.map { ("\(i).\(name)", $0) } }
            let first = [("receptance", l.receptance), ("key", l.key), ("value", l.value), ("w1", l.w1), ("a1", l.a1), ("g1", l.g1)]
            ordered += first.map { ("\(i).\($0.0)", $0.1) } + valueResidual.prefix(1)
            ordered += [("w2", l.w2), ("a2", l.a2), ("g2", l.g2)].map { ("\(i).\($0.0)", $0.1) } + valueResidual.dropFirst()
            ordered += [("output", l.output), ("ffnKey", l.ffnKey), ("ffnValue", l.ffnValue)].map { ("\(i).\($0.0)", $0.1) }
        }
        ordered.append(("head", model.head))
        for (index, (name, tensor)) in ordered.enumerated() {
            #expect(tensor.storage === model.head.storage, "\(name)")
            if index > 0 { #expect(tensor.byteOffset > ordered[index - 1].1.byteOffset, "\(name) out of order") }
        }
        #expect(model.layers[1].key.dtype == (type == .q8_0 ? .q8_0r8 : .f32))
        #expect(model.layers[1].key.floats() == (try weights.tensor("blk.1.time_mix_key.weight")).floats())
        #expect(model.head.floats() == (try weights.tensor("output.weight")).floats())
    }

    /// Chunked prefill (chunks of 1, 7 and 64) within 1e-5 of token-by-token decode, at every position.
    @Test func chunkedPrefillMatchesTokenByToken() throws {
        let tokens = try Self.tokens.get()
        let session = try RWKV7Session(model: try Self.model.get(), threads: 2)
        let serial = try session.process(tokens, chunk: 1, allLogits: true)
        for chunk in [7, 64, 72] {
            session.reset()
            let chunked = try session.process(tokens, chunk: chunk, allLogits: true)
            let worst = zip(serial, chunked).map { maxAbsDifference($0, $1) }.max()!
            #expect(worst <= 1e-5, "chunk \(chunk): \(worst)")
        }
    }

    /// save → load → continue gives exactly the logits of never stopping.
    @Test func savedStateContinuesExactly() throws {
        let tokens = try Self.tokens.get()
        let scratch = try ScratchDirectory()
        let model = try Self.model.get()
        let straight = try RWKV7Session(model: model, threads: 2)
        _ = try straight.process(Array(tokens[..<40]), chunk: 20)
        let expected = try straight.process(Array(tokens[40...]), chunk: 8, allLogits: true)

        let first = try RWKV7Session(model: model, threads: 2)
        _ = try first.process(Array(tokens[..<40]), chunk: 20)
        try first.state.save(to: scratch.path("s.state"))
        let second = try RWKV7Session(model: model, threads: 3)
        try second.restore(try RWKV7State(contentsOf: scratch.path("s.state"), for: model.hyperparameters))
        #expect(second.state == first.state)
        let snapshot = second.state
        let resumed = try second.process(Array(tokens[40...]), chunk: 8, allLogits: true)
        #expect(resumed == expected)

        // A state copy is a value: running on does not change it, and setting it back replays exactly.
        #expect(snapshot != second.state)
        _ = try second.process([1, 2, 3])
        try second.restore(snapshot)
        #expect(try second.process(Array(tokens[40...]), chunk: 8, allLogits: true) == expected)
    }

    @Test func stateFilesOfOtherModelsAreRefused() throws {
        let scratch = try ScratchDirectory()
        let model = try Self.model.get()
        try RWKV7State(hyperparameters: model.hyperparameters).save(to: scratch.path("ok.state"))
        var other = model.hyperparameters
        other.layers = 2
        #expect { try RWKV7State(contentsOf: scratch.path("ok.state"), for: other) } throws: { "\($0)".contains("state is for a model L3") }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path("ok.state")))
        try bytes.prefix(100).write(to: URL(fileURLWithPath: scratch.path("cut.state")))
        #expect { try RWKV7State(contentsOf: scratch.path("cut.state"), for: model.hyperparameters) } throws: { "\($0)".contains("cut.state") }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: scratch.path("junk.state")))
        #expect { try RWKV7State(contentsOf: scratch.path("junk.state"), for: model.hyperparameters) } throws: { "\($0)".contains("not an rwkv-swift state file") }
        // Found by fuzzing: a header with head size 0 divided by zero while describing the mismatch.
        var zeroHead = Array(bytes)
        zeroHead.replaceSubrange(24..<28, with: [0, 0, 0, 0])
        try Data(zeroHead).write(to: URL(fileURLWithPath: scratch.path("zero.state")))
        #expect { try RWKV7State(contentsOf: scratch.path("zero.state"), for: model.hyperparameters) } throws: { "\($0)".contains("H0×0") }
    }

    @Test func badTokensAreClearErrors() throws {
        let session = try RWKV7Session(model: try Self.model.get())
        #expect(throws: ExecutionError("token id 2048 is outside the vocabulary (0..<2048)")) { try session.process([5, 2048]) }
        #expect(throws: ExecutionError("token id -1 is outside the vocabulary (0..<2048)")) { try session.process([-1]) }
        #expect(throws: ExecutionError.self) { try session.process([]) }
    }
}

@Suite struct CompareTests {
    func dump(_ tokens: [Int32], _ rows: [[Float]]) -> LogitsDump {
        LogitsDump(tokens: tokens, vocabularySize: rows[0].count, logits: rows.flatMap { $0 })
    }

    /// Numbers checked against a direct computation on a small example.
    @Test func metricsMatchADirectFormula() throws {
        let reference = dump([1, 2], [[0, 1, 2], [3, 0, 0]])
        let candidate = dump([1, 2], [[0, 1, 2.5], [0, 0, 4]])
        let c = try LogitsComparison(reference: reference, candidate: candidate)
        #expect(c.maxAbsDifference == 4)
        #expect(abs(c.rmsDifference - ((0.25 + 9 + 16) / 6.0).squareRoot()) < 1e-12)
        #expect(c.top1Agreement == 0.5)
        func softmax(_ x: [Double]) -> [Double] { let e = x.map { exp($0) }; let s = e.reduce(0, +); return e.map { $0 / s } }
        func kl(_ p: [Double], _ q: [Double]) -> Double { zip(softmax(p), softmax(q)).reduce(0) { $0 + $1.0 * log($1.0 / $1.1) } }
        let want = (kl([0, 1, 2], [0, 1, 2.5]) + kl([3, 0, 0], [0, 0, 4])) / 2
        #expect(abs(c.meanKL - want) < 1e-9)
        let same = try LogitsComparison(reference: reference, candidate: reference)
        #expect(same.maxAbsDifference == 0 && same.meanKL == 0 && same.top1Agreement == 1)
    }

    @Test func dumpsRoundTripAndMalformedDumpsFail() throws {
        let scratch = try ScratchDirectory()
        let original = dump([7, 8, 9], [[1, 2], [3, 4], [5, 6]])
        try original.write(to: scratch.path("d.safetensors"))
        #expect(try LogitsDump.read(scratch.path("d.safetensors")) == original)
        #expect(throws: ComparisonError.self) { try LogitsComparison(reference: original, candidate: dump([7, 8], [[1, 2], [3, 4]])) }
        #expect(throws: ComparisonError.self) { try LogitsComparison(reference: original, candidate: dump([7, 8, 1], [[1, 2], [3, 4], [5, 6]])) }
        func write(_ json: String, _ payload: Int) throws -> String {
            var bytes = withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian, Array.init) + Array(json.utf8)
            bytes += [UInt8](repeating: 0, count: payload)
            try Data(bytes).write(to: URL(fileURLWithPath: scratch.path("bad.safetensors")))
            return scratch.path("bad.safetensors")
        }
        let cases: [(String, Int, String)] = [
            (#"{"tokens":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#, 8, "needs tensors 'tokens' and 'logits'"),
            (#"{"tokens":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"logits":{"dtype":"F32","shape":[1,2],"data_offsets":[4,12]}}"#, 12, "'tokens' must be I32"),
            (#"{"tokens":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"logits":{"dtype":"F32","shape":[3,2],"data_offsets":[8,32]}}"#, 32, "'logits' must be F32 [T, V] with T = 2"),
            (#"{"tokens":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"logits":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}"#, 20, "do not hold"),
        ]
        for (json, payload, message) in cases {
            let path = try write(json, payload)
            #expect { try LogitsDump.read(path) } throws: { "\($0)".contains(message) && "\($0)".contains("bad.safetensors") }
        }
    }

    /// The CLI's exit codes: 0 within bounds, 1 when a bound breaks, 2 on a bad file.
    @Test(.enabled(if: CLITests.hasBinary, "needs the rwkv binary of this build"))
    func compareCommandExitCodes() throws {
        let binary = CLITests.binary
        let scratch = try ScratchDirectory()
        try dump([1, 2], [[0, 1, 2], [3, 0, 0]]).write(to: scratch.path("a.safetensors"))
        try dump([1, 2], [[0, 1, 2.5], [0, 0, 4]]).write(to: scratch.path("b.safetensors"))
        func run(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        let a = scratch.path("a.safetensors"), b = scratch.path("b.safetensors")
        let ok = try run(["compare", a, b, "--max-abs", "4"])
        #expect(ok.0 == 0 && ok.1.contains("max_abs_diff 4.000000e+00") && ok.1.contains("top1_agree   0.500000"))
        #expect(try run(["compare", a, b, "--max-abs", "3.9"]).0 == 1)
        #expect(try run(["compare", a, b, "--min-top1", "0.6"]).0 == 1)
        #expect(try run(["compare", a, b, "--max-kl", "100"]).0 == 0)
        let missing = try run(["compare", a, scratch.path("nope.safetensors")])
        #expect(missing.0 == 2 && missing.1.contains("nope.safetensors"))
    }
}
