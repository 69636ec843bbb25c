import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

/// RWKV-7b (DeepEmbedAttention) against a numpy forward pass of BlinkDL's rwkv_v7b_demo.py
/// (tools/gen_dea_fixture.py, whose RWKV-7/7a parts it checks against the official package first).
@Suite struct DeepEmbedAttentionTests {
    static let reference = Result { try LogitsDump.read(Fixtures.path("random-rwkv7b.logits.safetensors")) }
    static let model = Result { try RWKV7Model(path: Fixtures.path("random-rwkv7b.st")) }

    /// Whole sequence, chunks of 7, and token by token, against the reference at every position.
    @Test(arguments: [72, 7, 1])
    func matchesTheDemo(chunk: Int) throws {
        let reference = try Self.reference.get()
        let model = try Self.model.get()
        let h = model.hyperparameters
        #expect(h.variant == "RWKV-7b (DeepEmbedAttention)" && h.attentionKeySize == 256 && h.attentionCacheRank == 32 && h.deepEmbedRank == 32)
        let session = try RWKV7Session(model: model, threads: 2)
        let logits = try session.process(reference.tokens, chunk: chunk, allLogits: true)
        #expect(logits.count == 72 && session.position == 72)
        let worst = logits.indices.map { maxAbsDifference(logits[$0], reference.row($0)) }.max()!
        print("DeepEmbedAttention vs the demo, chunk \(chunk): max |Δlogit| = \(worst)")
        #expect(worst <= 1e-4)
    }

    @Test func chunkedPrefillDecodeAndThreadsAgree() throws {
        let tokens = try Self.reference.get().tokens
        let model = try Self.model.get()
        let serial = try RWKV7Session(model: model, threads: 1).process(tokens, chunk: 1, allLogits: true)
        let chunked = try RWKV7Session(model: model, threads: 1).process(tokens, chunk: 72, allLogits: true)
        #expect(zip(serial, chunked).map { maxAbsDifference($0, $1) }.max()! <= 1e-5)
        for threads in [2, 3, 8] {
            for (chunk, expected) in [(72, chunked), (1, serial)] {
                let other = try RWKV7Session(model: model, threads: threads).process(tokens, chunk: chunk, allLogits: true)
                let same = other.map { $0.map(\.bitPattern) } == expected.map { $0.map(\.bitPattern) }
                #expect(same, "\(threads) threads, chunk \(chunk)")
            }
        }
    }

    /// Saved after 40 tokens, loaded into a new session (a file and a snapshot), continued: the bits of an
    /// uninterrupted run. The file is version 2 and holds the context.
    @Test func saveLoadContinueIsExact() throws {
        let tokens = try Self.reference.get().tokens
        let model = try Self.model.get()
        let first = try RWKV7Session(model: model, threads: 2)
        _ = try first.process(Array(tokens.prefix(40)), chunk: 16)
        let uninterrupted = try RWKV7Session(model: model, threads: 2)
        _ = try uninterrupted.process(Array(tokens.prefix(40)), chunk: 16)
        let expected = try uninterrupted.process(Array(tokens.dropFirst(40)), chunk: 1, allLogits: true)
        let scratch = try ScratchDirectory()
        let snapshot = first.state
        #expect(snapshot.position == 40 && snapshot.context.count == 40 * (256 + 128) * 2)
        try snapshot.save(to: scratch.path("b.state"))
        let loaded = try RWKV7State(contentsOf: scratch.path("b.state"), for: model.hyperparameters)
        #expect(loaded == snapshot)
        for state in [loaded, snapshot] {
            let second = try RWKV7Session(model: model, threads: 1)
            _ = try second.process([5, 6, 7])  // whatever it held is replaced
            try second.restore(state)
            let rest = try second.process(Array(tokens.dropFirst(40)), chunk: 1, allLogits: true)
            let same = rest.map { $0.map(\.bitPattern) } == expected.map { $0.map(\.bitPattern) }
            #expect(same, "max |Δ| \(zip(rest, expected).map { maxAbsDifference($0, $1) }.max()!)")
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path("b.state")))
        #expect(bytes.prefix(12) == Data("RWKV7STATE\u{0}\u{2}".utf8))
    }

    /// Past `contextLimit` tokens a session refuses to go on, naming the limit; a state with a longer context
    /// is refused; reset empties the context.
    @Test func theContextLimitIsAClearError() throws {
        let tokens = try Self.reference.get().tokens
        let model = try Self.model.get()
        let session = try RWKV7Session(model: model, threads: 2, contextLimit: 50)
        _ = try session.process(Array(tokens.prefix(48)))
        #expect(throws: ExecutionError("the context limit of 50 tokens is reached: 48 in the state and 3 more given (raise --ctx-limit)")) {
            _ = try session.process(Array(tokens.prefix(3)))
        }
        _ = try session.step(tokens[0])
        _ = try session.step(tokens[1])
        #expect(throws: ExecutionError.self) { _ = try session.step(tokens[2]) }
        let long = try RWKV7Session(model: model, threads: 1)
        _ = try long.process(tokens)
        #expect(throws: ExecutionError("the state holds 72 tokens of context, more than the context limit of 50")) { try session.restore(long.state) }
        session.reset()
        #expect(session.position == 0 && session.state == RWKV7State(hyperparameters: model.hyperparameters))
        let again = try session.process(Array(tokens.prefix(10)), allLogits: true)
        #expect(maxAbsDifference(again[9], try Self.reference.get().row(9)) <= 1e-4)
    }

    /// A state file of another version or model is refused; a plain RWKV-7 state stays version 1.
    @Test func stateFilesOfOtherVersionsAreRefused() throws {
        let model = try Self.model.get()
        let scratch = try ScratchDirectory()
        var plain = model.hyperparameters
        plain.attentionKeySize = 0
        plain.attentionCacheRank = 0
        try RWKV7State(hyperparameters: plain).save(to: scratch.path("v1.state"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("v1.state"))).prefix(12) == Data("RWKV7STATE\u{0}\u{1}".utf8))
        #expect(throws: ModelFileError.self) { _ = try RWKV7State(contentsOf: scratch.path("v1.state"), for: model.hyperparameters) }
        _ = try RWKV7State(contentsOf: scratch.path("v1.state"), for: plain)
        let session = try RWKV7Session(model: model)
        _ = try session.process([1, 2, 3])
        try session.state.save(to: scratch.path("v2.state"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path("v2.state")))
        try bytes.dropLast(4).write(to: URL(fileURLWithPath: scratch.path("short.state")))
        #expect(throws: ModelFileError.self) { _ = try RWKV7State(contentsOf: scratch.path("short.state"), for: model.hyperparameters) }
    }

    /// .st → GGUF (our `dea_*` names and metadata) → the same logits; a Q8_0 run stays close.
    @Test func convertsToGGUF() throws {
        let scratch = try ScratchDirectory()
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("random-rwkv7b.st")))
        let converted = try RWKV7Conversion.apply(weights) { RWKV7Conversion.convertType($0, $1, to: nil) }
        try RWKV7GGUF.writer(for: converted, name: "dea").write(to: scratch.path("dea.gguf"))
        let checkpoint = try Checkpoint.open(scratch.path("dea.gguf"))
        #expect(checkpoint.gguf?["rwkv7.deep_embed_attention.key_length"] == .uint32(256))
        #expect(checkpoint.gguf?["rwkv7.deep_embed_attention.cache_rank"] == .uint32(32))
        #expect(checkpoint.tensors.contains { $0.name == "blk.1.dea_k2.weight" && $0.tensor.shape == Shape(32, 256) })
        #expect(checkpoint.tensors.contains { $0.name == "blk.0.dea_v_emb.weight" && $0.tensor.shape == Shape(128, 512) })
        let fromGGUF = try RWKV7Weights(checkpoint)
        #expect(fromGGUF.hyperparameters == weights.hyperparameters)
        let tokens = Array(try Self.reference.get().tokens.prefix(24))
        let direct = try RWKV7Session(model: try RWKV7Model(weights)).process(tokens, allLogits: true)
        let viaFile = try RWKV7Session(model: try RWKV7Model(fromGGUF)).process(tokens, allLogits: true)
        #expect(zip(direct, viaFile).map { maxAbsDifference($0, $1) }.max()! <= 1e-5)
        let q8 = try RWKV7Session(model: try RWKV7Model(try weights.converted(toRunAt: .q8_0))).process(tokens, allLogits: true)
        #expect(zip(direct, q8).map { maxAbsDifference($0, $1) }.max()! <= 0.5)
    }

    /// A prompt prefilled into one slot of a batch (in the batch's chunks) matches the reference and leaves
    /// the other slot alone; slot states round-trip with their context; each slot's context limit holds.
    @Test func batchPrefillAndContextLimit() throws {
        let reference = try Self.reference.get()
        let model = try Self.model.get()
        let batch = try RWKV7Batch(model: model, capacity: 2, threads: 2, contextLimit: 40)
        _ = try batch.decode([7, 9])
        let other = batch.state(slot: 0)
        let logits = try batch.prefill(slot: 1, Array(reference.tokens.prefix(30))).floats()
        #expect(batch.position(slot: 1) == 31 && batch.state(slot: 0) == other)
        let session = try RWKV7Session(model: model, threads: 1)
        _ = try session.step(9)
        #expect(maxAbsDifference(logits, try session.process(Array(reference.tokens.prefix(30)))[0]) <= 1e-5)
        let saved = batch.state(slot: 1)
        #expect(saved.position == 31)
        try batch.setState(saved, slot: 0)
        #expect(batch.state(slot: 0) == saved)
        #expect(throws: ExecutionError("the context limit of 40 tokens is reached: 31 in slot 0 and 10 more given")) {
            _ = try batch.prefill(slot: 0, Array(reference.tokens.prefix(10)))
        }
        let long = try RWKV7Session(model: model)
        _ = try long.process(reference.tokens)
        #expect(throws: ExecutionError.self) { try batch.setState(long.state, slot: 1) }
    }
}
