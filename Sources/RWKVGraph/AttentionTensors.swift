import ModelFiles
import Tensor

/// The tensors one layer's RWKV-7b attention state slots are bound to: the shift rows q [Q], k [Q], v [C] and
/// the caches of keys [Q, capacity] and values [C, capacity] — for a batch of `sequences` S with a last
/// dimension of S, each sequence's part contiguous, so one sequence (or the first few) can be bound as a view.
struct AttentionTensors {
    let queryShift, keyShift, valueShift, keyCache, valueCache: Tensor

    init(_ h: RWKV7Hyperparameters, capacity: Int, sequences: Int? = nil) throws {
        func shape(_ dims: Int...) -> Shape { Shape(sequences.map { dims + [$0] } ?? dims) }
        queryShift = try Tensor(zeros: .f32, shape(h.attentionKeySize))
        keyShift = try Tensor(zeros: .f32, shape(h.attentionKeySize))
        valueShift = try Tensor(zeros: .f32, shape(h.embedding))
        // Large caches are anonymous mappings: only the rows a context fills take memory.
        keyCache = try Tensor(zeros: .f32, shape(h.attentionKeySize, capacity))
        valueCache = try Tensor(zeros: .f32, shape(h.embedding, capacity))
    }

    private init(queryShift: Tensor, keyShift: Tensor, valueShift: Tensor, keyCache: Tensor, valueCache: Tensor) {
        (self.queryShift, self.keyShift, self.valueShift, self.keyCache, self.valueCache) = (queryShift, keyShift, valueShift, keyCache, valueCache)
    }

    /// Views of `count` sequences from `first` of a batch's tensors (shaped as one sequence's tensors when
    /// `count` is 1).
    func sequences(_ first: Int, count: Int) -> AttentionTensors {
        func view(_ t: Tensor) -> Tensor {
            let dims = Array(t.shape.dims.dropLast()), perSequence = dims.reduce(1, *) * 4
            return Tensor(dtype: .f32, shape: Shape(count > 1 ? dims + [count] : dims), storage: t.storage,
                          byteOffset: t.byteOffset + first * perSequence)
        }
        return AttentionTensors(queryShift: view(queryShift), keyShift: view(keyShift), valueShift: view(valueShift),
                                keyCache: view(keyCache), valueCache: view(valueCache))
    }

    /// The shift rows (the caches need no clearing: only their first `position` rows are ever read).
    var shifts: [Tensor] { [queryShift, keyShift, valueShift] }

    func bind(_ slots: RWKV7Graph.AttentionState, to executor: Executor) throws {
        for (slot, tensor) in [(slots.queryShift, queryShift), (slots.keyShift, keyShift), (slots.valueShift, valueShift),
                               (slots.keyCache, keyCache), (slots.valueCache, valueCache)] {
            try executor.bind(slot, tensor)
        }
    }
}

extension RWKV7State {
    /// Reads the attention shifts and the first `position` cache rows of one sequence's tensors (per layer).
    mutating func readAttention(from layers: [AttentionTensors], position: Int) {
        guard !layers.isEmpty else { return }
        for (range, tensor) in attentionShifts(layers) { read(range, from: tensor) }
        readContext(position: position, caches: layers.map { ($0.keyCache, $0.valueCache) })
    }

    /// Writes the attention shifts and the context into one sequence's tensors (per layer).
    func writeAttention(into layers: [AttentionTensors]) {
        guard !layers.isEmpty else { return }
        for (range, tensor) in attentionShifts(layers) { copy(range, into: tensor) }
        writeContext(into: layers.map { ($0.keyCache, $0.valueCache) })
    }

    /// Each layer's attention shift rows: their ranges in ``values`` and the tensors that hold them.
    private func attentionShifts(_ layers: [AttentionTensors]) -> [(range: Range<Int>, tensor: Tensor)] {
        layers.enumerated().flatMap { i, attention in
            let ranges = attentionShiftRanges(layer: i)
            return [(ranges.query, attention.queryShift), (ranges.key, attention.keyShift), (ranges.value, attention.valueShift)]
        }
    }
}
