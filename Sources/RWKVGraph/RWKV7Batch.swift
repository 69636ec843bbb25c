import Tensor

/// Many sequences of one model at once: each lives in a slot with its own state; a decode step runs one
/// token of each of the first S slots through one graph (the weights are read once for all S), and a
/// prompt is prefilled into one slot at a time.
///
/// A sequence's logits do not depend on which other sequences share its step, nor on the thread count:
/// the batched graph multiplies each column as it would be alone (``RWKV7GraphBuilder``), so decoding a
/// sequence in any batch gives the bits of ``RWKV7Session/step(_:)``.
///
/// Slots are positions, not identities: the caller keeps its live sequences in slots `0 ..< S` (moving the
/// last one into a freed slot with ``moveState(from:to:)``).
public final class RWKV7Batch {
    public let model: RWKV7Model
    /// Slots (the most sequences one step decodes).
    public let capacity: Int
    public let threads: Int
    private let team: WorkerTeam
    /// Per layer, every slot's state back to back: [C, P], [C, P], [N, N, H, P].
    private let stateTensors: [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)]
    private var decoders: [Int: Entry] = [:]
    private var prefills: [Int: Entry] = [:]

    private final class Entry {
        let executor: Executor
        let built: RWKV7Graph
        let tokens: Tensor
        /// The slot whose state a prefill executor is bound to.
        var slot: Int?
        init(executor: Executor, built: RWKV7Graph, tokens: Tensor) {
            (self.executor, self.built, self.tokens) = (executor, built, tokens)
        }
    }

    /// The longest prefill run; longer prompts go in pieces of this many tokens.
    public static let prefillChunk = 256

    public init(model: RWKV7Model, capacity: Int, threads: Int = 1) throws {
        guard capacity >= 1 else { throw ExecutionError("a batch needs at least one slot") }
        guard !model.hyperparameters.hasAttention else {
            throw ExecutionError("\(model.hyperparameters.variant) models do not run in batches yet (use generate or chat)")
        }
        self.model = model
        self.capacity = capacity
        self.threads = max(1, threads)
        team = WorkerTeam(threads: self.threads)
        let h = model.hyperparameters
        stateTensors = try (0..<h.layers).map { _ in
            (try Tensor(zeros: .f32, Shape(h.embedding, capacity)), try Tensor(zeros: .f32, Shape(h.embedding, capacity)),
             try Tensor(zeros: .f32, Shape(h.headSize, h.headSize, h.heads, capacity)))
        }
    }

    // MARK: - Running

    /// One decode step of the sequences in slots `0 ..< tokens.count`, slot s fed `tokens[s]`; returns their
    /// logits `[V, S]` as a view that the next call overwrites.
    public func decode(_ tokens: [Int32]) throws -> Tensor {
        let s = tokens.count
        guard (1...capacity).contains(s) else { throw ExecutionError("a decode step takes 1 to \(capacity) sequences, got \(s)") }
        try checkVocabulary(tokens)
        let entry = try decoders[s] ?? makeDecoder(sequences: s)
        decoders[s] = entry
        return try run(entry, tokens)
    }

    /// Feeds `tokens` to the sequence in `slot` and returns the last token's logits `[V, 1]` (a view that the
    /// next call overwrites). Runs pieces of ``prefillChunk`` tokens, then the rest in powers of two, so a
    /// handful of graphs serve every prompt length.
    public func prefill(slot: Int, _ tokens: [Int32]) throws -> Tensor {
        guard (0..<capacity).contains(slot) else { throw ExecutionError("slot \(slot) is outside 0..<\(capacity)") }
        guard !tokens.isEmpty else { throw ExecutionError("no tokens to process") }
        try checkVocabulary(tokens)
        var start = 0
        var logits: Tensor?
        while start < tokens.count {
            let left = tokens.count - start
            let length = left >= Self.prefillChunk ? Self.prefillChunk : 1 << (Int.bitWidth - 1 - left.leadingZeroBitCount)
            let entry = try prefills[length] ?? makePrefill(tokens: length)
            prefills[length] = entry
            if entry.slot != slot {
                for (layer, views) in zip(entry.built.states, slotViews(slot)) {
                    try entry.executor.bind(layer.attShift, views.attShift)
                    try entry.executor.bind(layer.ffnShift, views.ffnShift)
                    try entry.executor.bind(layer.wkv, views.wkv)
                }
                entry.slot = slot
            }
            logits = try run(entry, Array(tokens[start..<(start + length)]))
            start += length
        }
        return logits!
    }

    private func run(_ entry: Entry, _ tokens: [Int32]) throws -> Tensor {
        entry.tokens.withUnsafeMutableBytes { raw in tokens.withUnsafeBytes { raw.copyMemory(from: $0) } }
        try entry.executor.run()
        return try entry.executor.output(entry.built.logits)
    }

    private func checkVocabulary(_ tokens: [Int32]) throws {
        let vocabulary = model.hyperparameters.vocabularySize
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw ExecutionError("token id \(bad) is outside the vocabulary (0..<\(vocabulary))")
        }
    }

    private func makeDecoder(sequences: Int) throws -> Entry {
        let built = try RWKV7GraphBuilder(model: model, decodingSequences: sequences).build()
        let entry = Entry(executor: Executor(graph: built.graph, team: team), built: built,
                          tokens: try Tensor(zeros: .i32, Shape(sequences)))
        try entry.executor.bind(built.tokens, entry.tokens)
        let h = model.hyperparameters
        for (slots, tensors) in zip(built.states, stateTensors) {
            // The first S slots, viewed as one batch.
            try entry.executor.bind(slots.attShift, Tensor(dtype: .f32, shape: Shape(h.embedding, sequences), storage: tensors.attShift.storage,
                                                           byteOffset: tensors.attShift.byteOffset))
            try entry.executor.bind(slots.ffnShift, Tensor(dtype: .f32, shape: Shape(h.embedding, sequences), storage: tensors.ffnShift.storage,
                                                           byteOffset: tensors.ffnShift.byteOffset))
            try entry.executor.bind(slots.wkv, Tensor(dtype: .f32, shape: Shape(h.headSize, h.headSize, h.heads, sequences),
                                                      storage: tensors.wkv.storage, byteOffset: tensors.wkv.byteOffset))
        }
        return entry
    }

    private func makePrefill(tokens: Int) throws -> Entry {
        let built = try RWKV7GraphBuilder(model: model, tokens: tokens, logitsForAllTokens: false).build()
        let entry = Entry(executor: Executor(graph: built.graph, team: team), built: built, tokens: try Tensor(zeros: .i32, Shape(tokens)))
        try entry.executor.bind(built.tokens, entry.tokens)
        return entry
    }

    // MARK: - States

    /// Views of one slot's state, per layer: [C], [C], [N, N, H].
    private func slotViews(_ slot: Int) -> [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)] {
        let h = model.hyperparameters, c = h.embedding, matrices = h.headSize * h.headSize * h.heads
        return stateTensors.map { tensors in
            (Tensor(dtype: .f32, shape: Shape(c), storage: tensors.attShift.storage, byteOffset: tensors.attShift.byteOffset + slot * c * 4),
             Tensor(dtype: .f32, shape: Shape(c), storage: tensors.ffnShift.storage, byteOffset: tensors.ffnShift.byteOffset + slot * c * 4),
             Tensor(dtype: .f32, shape: Shape(h.headSize, h.headSize, h.heads), storage: tensors.wkv.storage,
                    byteOffset: tensors.wkv.byteOffset + slot * matrices * 4))
        }
    }

    /// A copy of the state of the sequence in `slot`.
    public func state(slot: Int) -> RWKV7State {
        precondition((0..<capacity).contains(slot), "slot \(slot) is outside 0..<\(capacity)")
        return RWKV7State(hyperparameters: model.hyperparameters, layers: slotViews(slot))
    }

    /// Sets the state of the sequence in `slot` (a state of this model).
    public func setState(_ state: RWKV7State, slot: Int) {
        precondition((0..<capacity).contains(slot), "slot \(slot) is outside 0..<\(capacity)")
        precondition(state.hyperparameters == model.hyperparameters, "state of another model")
        state.copy(into: slotViews(slot))
    }

    /// Zeroes the state in `slot` (a new sequence).
    public func resetState(slot: Int) { setState(RWKV7State(hyperparameters: model.hyperparameters), slot: slot) }

    /// Copies the state in slot `source` over slot `target`.
    public func moveState(from source: Int, to target: Int) {
        precondition((0..<capacity).contains(source) && (0..<capacity).contains(target), "slot outside 0..<\(capacity)")
        guard source != target else { return }
        for (from, to) in zip(slotViews(source), slotViews(target)) {
            for (a, b) in [(from.attShift, to.attShift), (from.ffnShift, to.ffnShift), (from.wkv, to.wkv)] {
                a.withUnsafeBytes { src in b.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
            }
        }
    }
}
