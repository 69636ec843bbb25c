import CKernels
import Foundation

// The attention group: causal attention over a cache that grows with the context (RWKV-7b
// DeepEmbedAttention). The caches are state slots of a fixed capacity; how many rows they hold (the
// position P) is an i32 input read when the graph runs, so one graph serves every context length.
// Kernels: CKernels/kernels/attention.h.

extension Graph {
    /// Scores of `queries` `[D, T]` over the first P rows of `keyCache` (a state slot `[D, capacity]`) and the
    /// T new `keys` `[D, T]`, which are appended to the cache: `[capacity, T]` with `softCap · tanh(scale · q·k)`
    /// for the keys row t may see (p ≤ P + t) and −inf for the others. `position` is an i32 `[1]` input (P).
    /// With `sequences` S > 1 the T columns are S sequences of T/S tokens, each with its own cache (a slot
    /// `[D, capacity, S]`) and position (`[S]`).
    public mutating func attentionScores(queries: Value, keys: Value, keyCache: Value, position: Value,
                                         softCap: Float, scale: Float, sequences: Int = 1) throws -> Value {
        try requireF32("attention_scores", queries, keys)
        try requireSame("attention_scores", queries, keys)
        let d = shape(queries)[0], tokens = shape(queries).rowCount
        try requireSequences("attention_scores", position, tokens: tokens, sequences: sequences)
        let slot = try stateSlot("attention_scores", keyCache)
        let cache = shape(keyCache)
        guard cache.rank == (sequences > 1 ? 3 : 2), cache[0] == d, cache[1] >= tokens / sequences, sequences == 1 || cache[2] == sequences else {
            throw GraphError("attention_scores: key cache \(cache) does not hold rows of \(d) for \(tokens) new keys of \(sequences) sequences")
        }
        return record(.attentionScores(softCap: softCap, scale: scale, sequences: sequences), [queries, keys, keyCache, position], .f32,
                      Shape(cache[1], tokens), writes: slot)
    }

    /// Each row's softmax over `[n, T]`; −inf entries give exactly 0.
    public mutating func softmaxRows(_ x: Value) throws -> Value {
        try requireF32("softmax_rows", x)
        guard shape(x).rank <= 2 else { throw GraphError("softmax_rows: input \(shape(x)) is not a matrix") }
        return record(.softmaxRows, [x], .f32, shape(x))
    }

    /// `probabilities` `[capacity, T]` (from ``attentionScores(queries:keys:keyCache:position:softCap:scale:sequences:)``)
    /// times the first P rows of `valueCache` (a state slot `[C, capacity]`, `[C, capacity, S]` for S sequences)
    /// and the T new `values` `[C, T]`, which are appended to the cache: `[C, T]`.
    public mutating func attentionMix(probabilities: Value, values: Value, valueCache: Value, position: Value,
                                      sequences: Int = 1) throws -> Value {
        try requireF32("attention_mix", probabilities, values)
        let p = shape(probabilities), v = shape(values), cache = shape(valueCache)
        try requireSequences("attention_mix", position, tokens: v.rowCount, sequences: sequences)
        let slot = try stateSlot("attention_mix", valueCache)
        guard p.rank <= 2, v.rank <= 2, cache.rank == (sequences > 1 ? 3 : 2), cache[0] == v[0], cache[1] == p[0],
              p.rowCount == v.rowCount, sequences == 1 || cache[2] == sequences else {
            throw GraphError("attention_mix: probabilities \(p), values \(v) and value cache \(cache) do not agree for \(sequences) sequences")
        }
        return record(.attentionMix(sequences: sequences), [probabilities, values, valueCache, position], .f32, Shape(v[0], v.rowCount),
                      writes: slot)
    }

    /// Positions: i32 `[S]`; the T rows split into S sequences.
    private func requireSequences(_ op: String, _ position: Value, tokens: Int, sequences: Int) throws {
        guard sequences >= 1, tokens % sequences == 0 else { throw GraphError("\(op): \(tokens) tokens do not split into \(sequences) sequences") }
        guard dtype(position) == .i32, shape(position).count == sequences, shape(position).rank == 1 else {
            throw GraphError("\(op): the positions must be an i32 [\(sequences)], got \(dtype(position)) \(shape(position))")
        }
    }
}

enum AttentionOps {
    /// Key groups per query row (the units of a decode step's scores) and output channels per mix unit.
    static let keyGroups = 16, mixBlock = 64

    static func scores(softCap: Float, scale: Float, sequences: Int) -> OpTraits {
        OpTraits(name: "attention_scores",
                 lower: { context in
                     let capacity = context.shape(2)[1]
                     var lowered = context.rowTask(\.attention_scores) {
                         $0.attention.capacity = Int64(capacity)
                         $0.attention.sequences = Int64(sequences)
                         $0.attention.key_groups = Int64(keyGroups)
                         $0.attention.soft_cap = softCap
                         $0.attention.scale = scale
                     }
                     lowered.unitCount = context.rows * keyGroups
                     lowered.unitCost = Double(capacity / keyGroups * context.width) * LoweringContext.nsPerFlop
                     return lowered
                 },
                 reference: { e, node in
                     let q = e.input(node, 0), d = e.graph.shape(node.inputs[0])[0]
                     try appendingNewRows(&e, node, sequences: sequences) { cache, row, base, visible, capacity in
                         var out = [Float](repeating: -.infinity, count: capacity)
                         for p in 0..<visible {
                             var dot: Float = 0
                             for j in 0..<d { dot += q[row * d + j] * cache[base + p * d + j] }
                             out[p] = softCap * Foundation.tanh(dot * scale)
                         }
                         return out
                     }
                 })
    }

    /// The reference of both cached ops: appends each sequence's new rows (input 1) to its cache (slot input
    /// 2) after its position (input 3), then sets the node's rows, row by row, from `row(cache, row, the
    /// sequence's cache offset, keys visible to the row, capacity)`.
    static func appendingNewRows(_ e: inout ReferenceEvaluation, _ node: Graph.Node, sequences: Int,
                                 _ row: ([Float], Int, Int, Int, Int) -> [Float]) throws {
        guard case .slot(let slot) = e.graph.nodes[node.inputs[2].id].op else { return }
        let new = e.input(node, 1), positions = e.input(node, 3).map { Int($0) }
        let width = e.graph.shape(node.inputs[1])[0], tokens = new.count / width / sequences, capacity = e.graph.shape(node.inputs[2])[1]
        var out: [Float] = []
        for s in 0..<sequences {
            let position = positions[s], base = s * capacity * width
            guard position >= 0, position + tokens <= capacity else { throw ExecutionError("attention: the cache is full") }
            e.slotValues[slot].replaceSubrange((base + position * width)..<(base + (position + tokens) * width),
                                               with: new[(s * tokens * width)..<((s + 1) * tokens * width)])
            for t in 0..<tokens { out += row(e.slotValues[slot], s * tokens + t, base, position + t + 1, capacity) }
        }
        e.set(out)
    }

    static var softmaxRows: OpTraits {
        OpTraits(name: "softmax_rows",
                 lower: { context in context.rowTask(\.softmax_rows, nsPerValue: LoweringContext.nsPerTranscendental) },
                 reference: { e, node in
                     let x = e.input(node, 0), n = e.graph.shape(node.inputs[0])[0]
                     var out: [Float] = []
                     for row in stride(from: 0, to: x.count, by: n) {
                         let values = x[row..<(row + n)], largest = values.max()!
                         let exps = values.map { $0 == -.infinity ? 0 : Foundation.exp($0 - largest) }
                         let sum = exps.reduce(0, +)
                         out += exps.map { $0 / sum }
                     }
                     e.set(out)
                 })
    }

    static func mix(sequences: Int) -> OpTraits {
        OpTraits(name: "attention_mix",
                 lower: { context in
                     let c = context.shape(1)[0], capacity = context.width
                     var lowered = context.rowTask(\.attention_mix) {
                         $0.attention.capacity = Int64(capacity)
                         $0.attention.sequences = Int64(sequences)
                         $0.attention.block = Int64(mixBlock)
                     }
                     lowered.task.out_width = Int64(c)
                     lowered.unitCount = context.rows * ((c + mixBlock - 1) / mixBlock)
                     lowered.unitCost = Double(capacity * mixBlock) * LoweringContext.nsPerFlop
                     return lowered
                 },
                 reference: { e, node in
                     let probabilities = e.input(node, 0), c = e.graph.shape(node.inputs[1])[0]
                     try appendingNewRows(&e, node, sequences: sequences) { cache, row, base, visible, capacity in
                         var out = [Float](repeating: 0, count: c)
                         for p in 0..<visible {
                             let w = probabilities[row * capacity + p]
                             for j in 0..<c { out[j] += w * cache[base + p * c + j] }
                         }
                         return out
                     }
                 })
    }
}
