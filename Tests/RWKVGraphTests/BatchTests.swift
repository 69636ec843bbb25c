import Benchmarks
import ModelFiles
import RWKVGraph
import Tensor
import Testing

/// Batched decode and prefill of many sequences (``RWKV7Batch``): a sequence's logits are the bits of its
/// decode (or prefill) alone, in any batch, while others join and leave, at any thread count.
@Suite struct BatchTests {
    /// A small model: K-quant rows (256), four heads of 64, two layers, DeepEmbed off.
    static let shape = RWKV7Hyperparameters(vocabularySize: 512, embedding: 256, layers: 2, headSize: 64, decayRank: 32,
                                            iclrRank: 32, valueRank: 32, gateRank: 32, ffnSize: 1024)

    static func model(_ type: DType, _ h: RWKV7Hyperparameters = shape) throws -> RWKV7Model {
        try RWKV7Model(try RandomModel.make(h, plan: QuantizationPlan(type), seed: 7))
    }

    /// Token `step` of sequence `sequence`: distinct streams.
    static func token(_ sequence: Int, _ step: Int) -> Int32 { Int32((sequence * 131 + step * 17 + 5) % 512) }

    /// Each sequence's decode alone, step by step: the logits' bits per step.
    static func alone(_ model: RWKV7Model, sequence: Int, steps: Int) throws -> [[UInt32]] {
        let session = try RWKV7Session(model: model, threads: 1)
        return try (0..<steps).map { try session.step(token(sequence, $0)).floats().map(\.bitPattern) }
    }

    /// Five sequences over eight steps: three start, a fourth joins at step 2 and a fifth at step 3, the
    /// second leaves before step 3 (the last slot moves into its place). Every column of every step equals
    /// that sequence's decode alone, bit for bit, for every kernel family and 1, 2 and 3 threads.
    @Test(arguments: [DType.f32, .f16, .bf16, .q8_0, .q4_0, .q5_1, .q5_0, .q4_K, .q5_K, .q6_K, .q3_K, .q2_K])
    func batchedDecodeIsBitIdenticalToAlone(_ type: DType) throws {
        try Self.checkBatchedDecode(try Self.model(type), "\(type)")
    }

    /// The same for RWKV-7b (DeepEmbedAttention): each sequence's attention reads its own context, at its own
    /// position, and a slot that moves takes its context along.
    @Test(arguments: [DType.f16, .q8_0])
    func batchedAttentionDecodeIsBitIdenticalToAlone(_ type: DType) throws {
        var h = Self.shape
        (h.deepEmbedRank, h.attentionKeySize, h.attentionCacheRank) = (32, 256, 32)
        try Self.checkBatchedDecode(try Self.model(type, h), "RWKV-7b \(type)")
    }

    static func checkBatchedDecode(_ model: RWKV7Model, _ type: String) throws {
        let steps = 8
        let joins = [0: 0, 1: 0, 2: 0, 3: 2, 4: 3]
        let expected = try (0..<5).map { try alone(model, sequence: $0, steps: steps - joins[$0]!) }
        for threads in [1, 2, 3] {
            let batch = try RWKV7Batch(model: model, capacity: 4, threads: threads)
            var slots: [Int] = []  // sequence in each slot
            var position: [Int: Int] = [:]
            for step in 0..<steps {
                if step == 3, let leaving = slots.firstIndex(of: 1) {
                    batch.moveState(from: slots.count - 1, to: leaving)
                    slots[leaving] = slots.removeLast()
                }
                for (sequence, start) in joins.sorted(by: { $0.key < $1.key }) where start == step {
                    batch.resetState(slot: slots.count)
                    slots.append(sequence)
                    position[sequence] = 0
                }
                let logits = try batch.decode(slots.map { token($0, position[$0]!) })
                let v = model.hyperparameters.vocabularySize
                let bits = logits.floats().map(\.bitPattern)
                #expect(logits.shape == Shape(v, slots.count))
                for (slot, sequence) in slots.enumerated() {
                    let same = Array(bits[(slot * v)..<((slot + 1) * v)]) == expected[sequence][position[sequence]!]
                    #expect(same, "\(type), \(threads) threads: sequence \(sequence) at step \(step) in slot \(slot) of \(slots.count)")
                    position[sequence]! += 1
                }
            }
        }
    }

    /// Heads of another size than 64 (the generic WKV path) batch the same way.
    @Test func batchedDecodeWithHeadsOf32() throws {
        var h = Self.shape
        h.headSize = 32
        let model = try Self.model(.f32, h)
        let expected = try (0..<3).map { try Self.alone(model, sequence: $0, steps: 4) }
        let batch = try RWKV7Batch(model: model, capacity: 3, threads: 2)
        for step in 0..<4 {
            let bits = try batch.decode((0..<3).map { Self.token($0, step) }).floats().map(\.bitPattern)
            for s in 0..<3 {
                let same = Array(bits[(s * 512)..<((s + 1) * 512)]) == expected[s][step]
                #expect(same, "sequence \(s) step \(step)")
            }
        }
    }

    /// A prompt prefilled into one slot gives the logits of the same prompt through a session (within
    /// chunking noise), leaves the other slots' states untouched, and decodes on from there; states read
    /// and written per slot round-trip.
    @Test func prefillIntoOneSlot() throws {
        let model = try Self.model(.q8_0)
        let prompt = (0..<300).map { Self.token(9, $0) }
        let batch = try RWKV7Batch(model: model, capacity: 3, threads: 2)
        _ = try batch.decode([1, 2, 3])
        let before = [batch.state(slot: 0), batch.state(slot: 2)]
        let logits = try batch.prefill(slot: 1, prompt).floats()
        #expect([batch.state(slot: 0), batch.state(slot: 2)] == before)

        let session = try RWKV7Session(model: model, threads: 1)
        _ = try session.step(2)
        let reference = try session.process(prompt, chunk: 64)[0]
        #expect(maxAbsDifference(logits, reference) < 1e-3)

        let saved = batch.state(slot: 1)
        try batch.setState(saved, slot: 0)
        #expect(batch.state(slot: 0) == saved)
        let next = try batch.decode([4, 4]).floats()
        #expect(Array(next[0..<512]) == Array(next[512..<1024]), "equal states and tokens give equal logits")
    }

    /// Three prompts of 300 tokens prefilled together into slots 1 ... 3 (pieces of 256, 32, 8 and 4 tokens):
    /// each sequence's last logits and state are the bits of the same prompt prefilled alone, slot 0 stays as
    /// it was, and a decode step from there gives each one's bits alone; at 1, 2 and 3 threads.
    @Test(arguments: [DType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K, .q6_K])
    func batchedPrefillIsBitIdenticalToAlone(_ type: DType) throws {
        try Self.checkBatchedPrefill(try Self.model(type), "\(type)")
    }

    /// The same for RWKV-7b: each prompt fills its own attention cache from its own position.
    @Test func batchedAttentionPrefillIsBitIdenticalToAlone() throws {
        var h = Self.shape
        (h.deepEmbedRank, h.attentionKeySize, h.attentionCacheRank) = (32, 256, 32)
        try Self.checkBatchedPrefill(try Self.model(.f16, h), "RWKV-7b f16", length: 45)
    }

    static func checkBatchedPrefill(_ model: RWKV7Model, _ name: String, length: Int = 300) throws {
        let v = model.hyperparameters.vocabularySize
        let prompts = (0..<3).map { s in (0..<length).map { token(s + 3, $0) } }
        var expectedLogits: [[UInt32]] = [], expectedStates: [RWKV7State] = [], expectedNext: [[UInt32]] = []
        let alone = try RWKV7Batch(model: model, capacity: 1, threads: 1, contextLimit: 512)
        for prompt in prompts {
            alone.resetState(slot: 0)
            expectedLogits.append(try alone.prefill(slot: 0, prompt).floats().map(\.bitPattern))
            expectedStates.append(alone.state(slot: 0))
            expectedNext.append(try alone.decode([7]).floats().map(\.bitPattern))
        }
        for threads in [1, 2, 3] {
            let batch = try RWKV7Batch(model: model, capacity: 4, threads: threads, contextLimit: 512)
            _ = try batch.decode([1])
            let untouched = batch.state(slot: 0)
            let logits = try batch.prefill(firstSlot: 1, prompts)
            #expect(logits.shape == Shape(v, 3))
            let bits = logits.floats().map(\.bitPattern)
            for s in 0..<3 {
                #expect(Array(bits[(s * v)..<((s + 1) * v)]) == expectedLogits[s], "\(name), \(threads) threads: logits of prompt \(s)")
                #expect(batch.state(slot: s + 1) == expectedStates[s], "\(name), \(threads) threads: state of prompt \(s)")
            }
            #expect(batch.state(slot: 0) == untouched, "\(name): the slot before the prefilled ones is untouched")
            // Decode the three on: slots 0, 1, 2 then hold prompts 2, 0, 1.
            batch.moveState(from: 3, to: 0)
            let next = try batch.decode([7, 7, 7]).floats().map(\.bitPattern)
            for (slot, prompt) in [2, 0, 1].enumerated() {
                #expect(Array(next[(slot * v)..<((slot + 1) * v)]) == expectedNext[prompt], "\(name), \(threads) threads: decode after prompt \(prompt)")
            }
        }
    }

    @Test func badInputsAreErrors() throws {
        let batch = try RWKV7Batch(model: try Self.model(.q8_0), capacity: 2)
        #expect(throws: ExecutionError.self) { try batch.decode([1, 2, 3]) }
        #expect(throws: ExecutionError.self) { try batch.decode([]) }
        #expect(throws: ExecutionError.self) { try batch.decode([512]) }
        #expect(throws: ExecutionError.self) { try batch.prefill(slot: 2, [1]) }
        #expect(throws: ExecutionError.self) { try batch.prefill(slot: 0, []) }
        #expect(throws: ExecutionError.self) { try batch.prefill(firstSlot: 1, [[1], [2]]) }
        #expect(throws: ExecutionError.self) { try batch.prefill(firstSlot: 0, [[1, 2], [3]]) }
        #expect(throws: ExecutionError.self) { try batch.prefill(firstSlot: 0, [[1], [512]]) }
        #expect(throws: ExecutionError.self) { try batch.prefill(firstSlot: 0, []) }
        #expect(throws: ExecutionError.self) { try RWKV7Batch(model: try Self.model(.q8_0), capacity: 0) }
    }
}
