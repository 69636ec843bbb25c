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
    /// RWKV-7b: the most tokens of context each slot holds.
    public let contextLimit: Int
    private let team: WorkerTeam
    /// Per layer, every slot's state back to back: [C, P], [C, P], [N, N, H, P].
    private let stateTensors: [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)]
    private var decoders: [Int: Entry] = [:]
    private var prefills: [Int: Entry] = [:]
    /// RWKV-7b, per layer: every slot's attention state; each slot's position, and the i32 [slots] the graphs read.
    private let attentionTensors: [AttentionTensors]
    private var positions: [Int]
    private let positionTensor: Tensor

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

    public init(model: RWKV7Model, capacity: Int, threads: Int = 1, contextLimit: Int = RWKV7Session.defaultContextLimit) throws {
        guard capacity >= 1 else { throw ExecutionError("a batch needs at least one slot") }
        guard (1...Int(Int32.max)).contains(contextLimit) else { throw ExecutionError("the context limit must be at least 1, got \(contextLimit)") }
        self.model = model
        self.contextLimit = contextLimit
        self.capacity = capacity
        self.threads = max(1, threads)
        team = WorkerTeam(threads: self.threads)
        let h = model.hyperparameters
        stateTensors = try (0..<h.layers).map { _ in
            (try Tensor(zeros: .f32, Shape(h.embedding, capacity)), try Tensor(zeros: .f32, Shape(h.embedding, capacity)),
             try Tensor(zeros: .f32, Shape(h.headSize, h.headSize, h.heads, capacity)))
        }
        attentionTensors = h.hasAttention
            ? try (0..<h.layers).map { _ in try AttentionTensors(h, capacity: contextLimit, sequences: capacity) } : []
        positions = Array(repeating: 0, count: capacity)
        positionTensor = try Tensor(zeros: .i32, Shape(capacity))
    }

    /// Whether slots hold a context that ``contextLimit`` bounds (RWKV-7b); other models' states have a fixed size.
    public var hasContextLimit: Bool { !attentionTensors.isEmpty }

    /// RWKV-7b: tokens in the context of the sequence in `slot` (0 for other models).
    public func position(slot: Int) -> Int { hasContextLimit ? positions[slot] : 0 }

    /// RWKV-7b: whether the context in `slot` holds ``contextLimit`` tokens, so that no more can be fed
    /// (always false for other models).
    public func isContextFull(slot: Int) -> Bool { hasContextLimit && positions[slot] >= contextLimit }

    /// RWKV-7b: refuses `count` more tokens in `slot` past the context limit (other models have no limit).
    private func checkContext(slot: Int, adding count: Int) throws {
        guard hasContextLimit, positions[slot] + count > contextLimit else { return }
        throw ExecutionError("the context limit of \(contextLimit) tokens is reached: \(positions[slot]) in slot \(slot) and \(count) more given")
    }

    /// Writes the positions of slots `first ..< first + count` where the graphs read them.
    private func publishPositions(_ first: Int, count: Int) {
        positionTensor.withUnsafeMutableBytes { raw in
            for slot in first..<(first + count) { raw.storeBytes(of: Int32(positions[slot]), toByteOffset: slot * 4, as: Int32.self) }
        }
    }

    /// Advances the positions of slots `first ..< first + count` by `tokens`.
    private func advance(_ first: Int, count: Int, by tokens: Int) {
        guard hasContextLimit else { return }
        for slot in first..<(first + count) { positions[slot] += tokens }
    }

    // MARK: - Running

    /// One decode step of the sequences in slots `0 ..< tokens.count`, slot s fed `tokens[s]`; returns their
    /// logits `[V, S]` as a view that the next call overwrites.
    public func decode(_ tokens: [Int32]) throws -> Tensor {
        let s = tokens.count
        guard (1...capacity).contains(s) else { throw ExecutionError("a decode step takes 1 to \(capacity) sequences, got \(s)") }
        try checkVocabulary(tokens)
        for slot in 0..<s { try checkContext(slot: slot, adding: 1) }
        let entry = try decoders[s] ?? makeDecoder(sequences: s)
        decoders[s] = entry
        publishPositions(0, count: s)
        let logits = try run(entry, tokens)
        advance(0, count: s, by: 1)
        return logits
    }

    /// Feeds `tokens` to the sequence in `slot` and returns the last token's logits `[V, 1]` (a view that the
    /// next call overwrites). Runs pieces of ``prefillChunk`` tokens, then the rest in powers of two, so a
    /// handful of graphs serve every prompt length.
    public func prefill(slot: Int, _ tokens: [Int32]) throws -> Tensor {
        guard (0..<capacity).contains(slot) else { throw ExecutionError("slot \(slot) is outside 0..<\(capacity)") }
        guard !tokens.isEmpty else { throw ExecutionError("no tokens to process") }
        try checkVocabulary(tokens)
        try checkContext(slot: slot, adding: tokens.count)
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
                for (layer, tensors) in zip(entry.built.states.compactMap(\.attention), attentionTensors) {
                    try tensors.sequences(slot, count: 1).bind(layer, to: entry.executor)
                }
                if let position = entry.built.position {
                    try entry.executor.bind(position, Tensor(dtype: .i32, shape: Shape(1), storage: positionTensor.storage,
                                                             byteOffset: positionTensor.byteOffset + slot * 4))
                }
                entry.slot = slot
            }
            publishPositions(slot, count: 1)
            logits = try run(entry, Array(tokens[start..<(start + length)]))
            advance(slot, count: 1, by: length)
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
        var builder = RWKV7GraphBuilder(model: model, decodingSequences: sequences)
        builder.contextCapacity = contextLimit
        let built = try builder.build()
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
        for (slots, tensors) in zip(built.states.compactMap(\.attention), attentionTensors) {
            try tensors.sequences(0, count: sequences).bind(slots, to: entry.executor)
        }
        if let position = built.position {
            try entry.executor.bind(position, Tensor(dtype: .i32, shape: Shape(sequences), storage: positionTensor.storage,
                                                     byteOffset: positionTensor.byteOffset))
        }
        return entry
    }

    private func makePrefill(tokens: Int) throws -> Entry {
        var builder = RWKV7GraphBuilder(model: model, tokens: tokens, logitsForAllTokens: false)
        builder.contextCapacity = contextLimit
        let built = try builder.build()
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
        var state = RWKV7State(hyperparameters: model.hyperparameters, layers: slotViews(slot))
        state.readAttention(from: attentionTensors.map { $0.sequences(slot, count: 1) }, position: position(slot: slot))
        return state
    }

    /// Sets the state of the sequence in `slot` (a state of this model); an RWKV-7b context longer than
    /// ``contextLimit`` is refused.
    public func setState(_ state: RWKV7State, slot: Int) throws {
        precondition((0..<capacity).contains(slot), "slot \(slot) is outside 0..<\(capacity)")
        guard state.hyperparameters == model.hyperparameters else {
            throw ExecutionError("the state is for a model \(state.hyperparameters.summary), not \(model.hyperparameters.summary)")
        }
        guard state.position <= contextLimit else {
            throw ExecutionError("the state holds \(state.position) tokens of context, more than the context limit of \(contextLimit)")
        }
        state.copy(into: slotViews(slot))
        state.writeAttention(into: attentionTensors.map { $0.sequences(slot, count: 1) })
        positions[slot] = state.position
    }

    /// Zeroes the state in `slot` (a new sequence).
    public func resetState(slot: Int) {
        precondition((0..<capacity).contains(slot), "slot \(slot) is outside 0..<\(capacity)")
        RWKV7State(hyperparameters: model.hyperparameters).copy(into: slotViews(slot))
        for tensor in attentionTensors.flatMap({ $0.sequences(slot, count: 1).shifts }) {
            tensor.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        positions[slot] = 0
    }

    /// Copies the state in slot `source` over slot `target`.
    public func moveState(from source: Int, to target: Int) {
        precondition((0..<capacity).contains(source) && (0..<capacity).contains(target), "slot outside 0..<\(capacity)")
        guard source != target else { return }
        for (from, to) in zip(slotViews(source), slotViews(target)) {
            for (a, b) in [(from.attShift, to.attShift), (from.ffnShift, to.ffnShift), (from.wkv, to.wkv)] {
                a.withUnsafeBytes { src in b.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
            }
        }
        // RWKV-7b: the shift rows, and the cache rows the context fills.
        let h = model.hyperparameters
        for layer in attentionTensors {
            let (from, to) = (layer.sequences(source, count: 1), layer.sequences(target, count: 1))
            for (a, b, count) in [(from.queryShift, to.queryShift, h.attentionKeySize), (from.keyShift, to.keyShift, h.attentionKeySize),
                                  (from.valueShift, to.valueShift, h.embedding),
                                  (from.keyCache, to.keyCache, positions[source] * h.attentionKeySize),
                                  (from.valueCache, to.valueCache, positions[source] * h.embedding)] {
                a.withUnsafeBytes { src in b.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<(count * 4)])) } }
            }
        }
        positions[target] = positions[source]
    }
}
