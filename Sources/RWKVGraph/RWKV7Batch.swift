import Tensor

/// Many sequences of one model at once: each lives in a slot with its own state; a decode step runs one
/// token of each of the first S slots through one graph (the weights are read once for all S), and a
/// prefill runs the prompts of S consecutive slots through one graph, an equal number of tokens each.
///
/// A sequence's logits do not depend on which other sequences share its step, nor on the thread count:
/// the batched graph multiplies each sequence's columns as they would be alone (``RWKV7GraphBuilder``), so
/// decoding a sequence in any batch gives the bits of ``RWKV7Session/step(_:)``, and prefilling it beside
/// others gives the bits of prefilling it alone.
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
    private var prefills: [PrefillShape: Entry] = [:]
    /// RWKV-7b, per layer: every slot's attention state; each slot's position, and the i32 [slots] the graphs read.
    private let attentionTensors: [AttentionTensors]
    private var positions: [Int]
    private let positionTensor: Tensor

    private final class Entry {
        let executor: Executor
        let built: RWKV7Graph
        let tokens: Tensor
        /// The first of the slots whose states a prefill executor is bound to.
        var slot: Int?
        init(executor: Executor, built: RWKV7Graph, tokens: Tensor) {
            (self.executor, self.built, self.tokens) = (executor, built, tokens)
        }
    }

    /// A prefill graph: tokens of each of several sequences.
    private struct PrefillShape: Hashable {
        let sequences, tokens: Int
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
        try prefill(firstSlot: slot, [tokens])
    }

    /// Feeds `prompts[i]` to the sequence in slot `firstSlot + i`, all in one graph (the weights are read
    /// once for all of them), and returns each one's last logits `[V, S]` (a view that the next call
    /// overwrites). The prompts have the same number of tokens; they run in pieces as in ``prefill(slot:_:)``,
    /// and each sequence gets the bits it would get alone.
    public func prefill(firstSlot: Int, _ prompts: [[Int32]]) throws -> Tensor {
        let count = prompts.count
        guard count >= 1 else { throw ExecutionError("no prompts to prefill") }
        guard firstSlot >= 0, firstSlot + count <= capacity else {
            throw ExecutionError("slots \(firstSlot)..<\(firstSlot + count) are outside 0..<\(capacity)")
        }
        let length = prompts[0].count
        guard length > 0 else { throw ExecutionError("no tokens to process") }
        guard prompts.allSatisfy({ $0.count == length }) else {
            throw ExecutionError("prompts prefilled together need the same number of tokens, got \(prompts.map(\.count))")
        }
        for (i, prompt) in prompts.enumerated() {
            try checkVocabulary(prompt)
            try checkContext(slot: firstSlot + i, adding: length)
        }
        var start = 0
        var logits: Tensor?
        while start < length {
            let left = length - start
            let piece = left >= Self.prefillChunk ? Self.prefillChunk : 1 << (Int.bitWidth - 1 - left.leadingZeroBitCount)
            let shape = PrefillShape(sequences: count, tokens: piece)
            let entry = try prefills[shape] ?? makePrefill(shape)
            prefills[shape] = entry
            if entry.slot != firstSlot {
                try bindStates(of: entry, firstSlot: firstSlot, count: count)
                entry.slot = firstSlot
            }
            publishPositions(firstSlot, count: count)
            logits = try run(entry, prompts.flatMap { $0[start..<(start + piece)] })
            advance(firstSlot, count: count, by: piece)
            start += piece
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
        let entry = try makeEntry(RWKV7GraphBuilder(model: model, decodingSequences: sequences))
        try bindStates(of: entry, firstSlot: 0, count: sequences)
        return entry
    }

    private func makePrefill(_ shape: PrefillShape) throws -> Entry {
        try makeEntry(RWKV7GraphBuilder(model: model, sequences: shape.sequences, tokens: shape.tokens))
    }

    private func makeEntry(_ builder: RWKV7GraphBuilder) throws -> Entry {
        var builder = builder
        builder.contextCapacity = contextLimit
        let built = try builder.build()
        let entry = Entry(executor: Executor(graph: built.graph, team: team), built: built,
                          tokens: try Tensor(zeros: .i32, Shape(builder.sequences * builder.tokens)))
        try entry.executor.bind(built.tokens, entry.tokens)
        return entry
    }

    /// Binds an executor's state slots to slots `firstSlot ..< firstSlot + count`.
    private func bindStates(of entry: Entry, firstSlot: Int, count: Int) throws {
        for (layer, views) in zip(entry.built.states, slotViews(firstSlot, count: count)) {
            try entry.executor.bind(layer.attShift, views.attShift)
            try entry.executor.bind(layer.ffnShift, views.ffnShift)
            try entry.executor.bind(layer.wkv, views.wkv)
        }
        for (layer, tensors) in zip(entry.built.states.compactMap(\.attention), attentionTensors) {
            try tensors.sequences(firstSlot, count: count).bind(layer, to: entry.executor)
        }
        if let position = entry.built.position {
            try entry.executor.bind(position, Tensor(dtype: .i32, shape: Shape(count), storage: positionTensor.storage,
                                                     byteOffset: positionTensor.byteOffset + firstSlot * 4))
        }
    }

    // MARK: - States

    /// Views of the states of slots `first ..< first + count`, per layer: [C], [C], [N, N, H] for one slot,
    /// with a last dimension of `count` for several.
    private func slotViews(_ first: Int, count: Int = 1) -> [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)] {
        let h = model.hyperparameters, c = h.embedding, matrices = h.headSize * h.headSize * h.heads
        func view(_ tensor: Tensor, _ dims: [Int], perSlot: Int) -> Tensor {
            Tensor(dtype: .f32, shape: Shape(count > 1 ? dims + [count] : dims), storage: tensor.storage,
                   byteOffset: tensor.byteOffset + first * perSlot * 4)
        }
        return stateTensors.map { tensors in
            (view(tensors.attShift, [c], perSlot: c), view(tensors.ffnShift, [c], perSlot: c),
             view(tensors.wkv, [h.headSize, h.headSize, h.heads], perSlot: matrices))
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

    /// Exchanges the states (and RWKV-7b contexts) of slots `a` and `b`.
    public func swapStates(_ a: Int, _ b: Int) {
        precondition((0..<capacity).contains(a) && (0..<capacity).contains(b), "slot outside 0..<\(capacity)")
        guard a != b else { return }
        func swap(_ x: Tensor, _ y: Tensor, bytes: Int) {
            x.withUnsafeMutableBytes { p in
                y.withUnsafeMutableBytes { q in
                    let (p, q) = (p.baseAddress!.assumingMemoryBound(to: UInt8.self), q.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    for i in 0..<bytes { (p[i], q[i]) = (q[i], p[i]) }
                }
            }
        }
        for (x, y) in zip(slotViews(a), slotViews(b)) {
            for (u, w) in [(x.attShift, y.attShift), (x.ffnShift, y.ffnShift), (x.wkv, y.wkv)] { swap(u, w, bytes: u.byteCount) }
        }
        // RWKV-7b: the shift rows, and the cache rows either context fills.
        let h = model.hyperparameters, rows = max(positions[a], positions[b])
        for layer in attentionTensors {
            let (x, y) = (layer.sequences(a, count: 1), layer.sequences(b, count: 1))
            for (u, w) in zip(x.shifts, y.shifts) { swap(u, w, bytes: u.byteCount) }
            swap(x.keyCache, y.keyCache, bytes: rows * h.attentionKeySize * 4)
            swap(x.valueCache, y.valueCache, bytes: rows * h.embedding * 4)
        }
        positions.swapAt(a, b)
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
