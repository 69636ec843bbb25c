import CKernels

// The RWKV group: the only ops that know about RWKV — the WKV-7 recurrence, the RWKV-7 bonus
// (head_dot_scale) and RWKV-7a DeepEmbed's vector times a per-token matrix. Everything else in Tensor is
// generic. Kernels: CKernels/kernels/rwkv.h.

extension Graph {
    /// The WKV-7 recurrence over all tokens of r, w, k, v, a, b `[C, T]`; `state` is an `[N, N, H]` state slot.
    /// With `sequences` S > 1 the T columns are S sequences of T/S tokens one after another, each with its own
    /// state in an `[N, N, H, S]` slot.
    public mutating func wkv7(r: Value, w: Value, k: Value, v: Value, a: Value, b: Value,
                              state: Value, headSize n: Int, sequences: Int = 1) throws -> Value {
        try requireF32("wkv7", r, w, k, v, a, b)
        for other in [w, k, v, a, b] { try requireSame("wkv7", r, other) }
        let c = shape(r)[0], tokens = shape(r).rowCount
        guard sequences > 0, tokens % sequences == 0 else {
            throw GraphError("wkv7: \(tokens) tokens do not split into \(sequences) sequences")
        }
        let expected = sequences == 1 ? Shape(n, n, c / max(n, 1)) : Shape(n, n, c / max(n, 1), sequences)
        guard n > 0, c % n == 0, shape(state) == expected else {
            throw GraphError("wkv7: state \(shape(state)) does not match \(c / max(n, 1)) heads of \(n) for input \(shape(r)), \(sequences) sequences")
        }
        let slot = try stateSlot("wkv7", state)
        return record(.wkv7(headSize: n, sequences: sequences), [r, w, k, v, a, b, state], .f32, shape(r), writes: slot)
    }

    /// Per head h and token t: `(Σ_n a·b·c over the head) · v` — `a`, `b`, `v` `[C, T]`, `c` row-broadcast.
    public mutating func headDotScale(_ a: Value, _ b: Value, _ c: Value, _ v: Value, headSize: Int) throws -> Value {
        try requireF32("head_dot_scale", a, b, c, v)
        try requireSame("head_dot_scale", a, b)
        try requireSame("head_dot_scale", a, v)
        try requireRowBroadcast("head_dot_scale", c, over: a)
        guard headSize > 0, shape(a)[0] % headSize == 0 else {
            throw GraphError("head_dot_scale: head size \(headSize) does not divide rows of \(shape(a))")
        }
        return record(.headDotScale(headSize: headSize), [a, b, c, v], .f32, shape(a))
    }

    /// Per token, `u [rows, T]` times the token's matrix in `m [rows·columns, T]` → `[columns, T]`.
    public mutating func vectorTimesTokenMatrix(_ u: Value, _ m: Value, columns: Int) throws -> Value {
        try requireF32("vector_times_token_matrix", u, m)
        let su = shape(u), sm = shape(m)
        guard su.rank <= 2, sm.rank <= 2, columns > 0, sm[0] == su[0] * columns, sm[1] == su[1] else {
            throw GraphError("vector_times_token_matrix: vectors \(su) and matrices \(sm) do not agree for \(columns) columns")
        }
        return record(.vectorTimesTokenMatrix(rows: su[0], columns: columns), [u, m], .f32, Shape(columns, su[1]))
    }
}

enum RWKVOps {
    /// Value rows per WKV unit: a whole head of 64 for prefill (the transposed kernel), else 16.
    static func wkvRowsPerUnit(headSize: Int, tokens: Int) -> Int { headSize == 64 && tokens >= 4 ? 64 : 16 }

    static func wkv7(headSize n: Int, sequences: Int) -> OpTraits {
        OpTraits(name: "wkv7",
                 lower: { context in
                     let tokens = context.rows / sequences
                     let perUnit = wkvRowsPerUnit(headSize: n, tokens: tokens)
                     var lowered = context.rowTask(\.wkv7) {
                         $0.head.head_size = Int64(n)
                         $0.head.rows_per_unit = Int64(perUnit)
                         $0.head.sequences = Int64(sequences)
                     }
                     lowered.unitCount = sequences * context.width / n * ((n + perUnit - 1) / perUnit)
                     lowered.unitCost = Double(perUnit * n * tokens * 6) * LoweringContext.nsPerFlop
                     return lowered
                 },
                 reference: { e, node in
                     guard case .slot(let slot) = e.graph.nodes[node.inputs[6].id].op else { return }
                     let c = e.graph.shape(node.inputs[0])[0]
                     let inputs = (0..<6).map { e.input(node, $0) }
                     let perSequence = inputs[0].count / sequences, stateCount = e.slotValues[slot].count / sequences
                     var y: [Float] = []
                     for s in 0..<sequences {
                         let part = inputs.map { Array($0[(s * perSequence)..<((s + 1) * perSequence)]) }
                         var state = Array(e.slotValues[slot][(s * stateCount)..<((s + 1) * stateCount)])
                         y += wkv7Reference(r: part[0], w: part[1], k: part[2], v: part[3], a: part[4], b: part[5], state: &state, n: n, c: c)
                         e.slotValues[slot].replaceSubrange((s * stateCount)..<((s + 1) * stateCount), with: state)
                     }
                     e.set(y)
                 })
    }

    static func headDotScale(headSize n: Int) -> OpTraits {
        OpTraits(name: "head_dot_scale", takesEpilogue: true,
                 lower: { context in
                     context.rowTask(\.head_dot_scale) {
                         $0.head.head_size = Int64(n)
                         $0.head.broadcast = context.broadcasts(2)
                     }
                 },
                 reference: { e, node in
                     let a = e.input(node, 0), b = e.input(node, 1), c = e.input(node, 2), v = e.input(node, 3)
                     var out = [Float](repeating: 0, count: a.count)
                     for start in stride(from: 0, to: a.count, by: n) {
                         var s: Float = 0
                         for j in start..<(start + n) { s += a[j] * b[j] * c[j % c.count] }
                         for j in start..<(start + n) { out[j] = s * v[j] }
                     }
                     e.set(out)
                 })
    }

    static func vectorTimesTokenMatrix(rows: Int, columns: Int) -> OpTraits {
        OpTraits(name: "vector_times_token_matrix",
                 lower: { context in
                     var lowered = context.rowTask(\.vector_times_token_matrix) { $0.token_matrix.columns = Int64(columns) }
                     lowered.unitCost = Double(rows * columns) * LoweringContext.nsPerElement
                     return lowered
                 },
                 reference: { e, node in
                     let u = e.input(node, 0), m = e.input(node, 1)
                     var out = [Float](repeating: 0, count: columns * (u.count / rows))
                     for t in 0..<(u.count / rows) {
                         for q in 0..<columns {
                             var sum: Float = 0
                             for p in 0..<rows { sum += u[t * rows + p] * m[t * rows * columns + p * columns + q] }
                             out[t * columns + q] = sum
                         }
                     }
                     e.set(out)
                 })
    }

    /// Literal transcription of the recurrence (S[h][i][j], i = value row, j = key column).
    static func wkv7Reference(r: [Float], w: [Float], k: [Float], v: [Float], a: [Float], b: [Float],
                              state: inout [Float], n: Int, c: Int) -> [Float] {
        var y = [Float](repeating: 0, count: r.count)
        for t in 0..<(r.count / c) {
            for h in 0..<(c / n) {
                let base = t * c + h * n
                for i in 0..<n {
                    let row = h * n * n + i * n
                    var sa: Float = 0
                    for j in 0..<n { sa += state[row + j] * a[base + j] }
                    for j in 0..<n {
                        state[row + j] = state[row + j] * w[base + j] + sa * b[base + j] + v[base + i] * k[base + j]
                    }
                    var sum: Float = 0
                    for j in 0..<n { sum += state[row + j] * r[base + j] }
                    y[base + i] = sum
                }
            }
        }
        return y
    }
}
