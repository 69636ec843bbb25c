import Tensor

/// A built RWKV-7 graph with the handles of its slots and output, to bind and read them by.
public struct RWKV7Graph: Sendable {
    public let graph: Graph
    /// i32 [T] (S · T in a batched step: each sequence's T ids one after another).
    public let tokens: Graph.Value
    /// Per layer: the time-mix shift [C], the channel-mix shift [C] and the WKV state [N, N, H] (with a last
    /// dimension of S sequences in a batched step: [C, S], [C, S], [N, N, H, S]).
    public let states: [RWKV7Graph.LayerState]
    /// [V, T'] for the last token only (T' = 1; one column per sequence in a batched step) or for every token.
    public let logits: Graph.Value
    /// RWKV-7b: i32 [1] (one per sequence in a batched step: [S]), the number of tokens already in the
    /// attention caches (nil for other models).
    public let position: Graph.Value?

    public struct LayerState: Sendable {
        public let attShift, ffnShift, wkv: Graph.Value
        /// RWKV-7b DeepEmbedAttention's state (nil for other models).
        public let attention: AttentionState?
    }

    /// Per layer of an RWKV-7b model: the last raw q [Q], k [Q] and v [C] rows (token shift) and the caches of
    /// normalised keys [Q, capacity] and values [C, capacity], of which the first `position` rows are filled
    /// (with a last dimension of S sequences in a batched step).
    public struct AttentionState: Sendable {
        public let queryShift, keyShift, valueShift, keyCache, valueCache: Graph.Value
    }
}

/// Builds the RWKV-7 compute graph for a batch of T tokens of one sequence (spec: RWKV-7 forward pass,
/// sequence mode), or for T tokens of each of S sequences (a batched step: a decode step when T = 1, a
/// prefill of several prompts at once when T > 1).
///
/// Every projection is one matmul over the T (or S · T) columns; only the WKV recurrence walks the tokens,
/// inside its op. In a batched step each sequence has its own state, and its logits are bit-identical to
/// that sequence's step alone (the same T tokens in a graph of its own). Slots (named for messages): `tokens` and per layer i the
/// states `att_shift.i`, `ffn_shift.i`, `wkv.i`; output `logits`.
public struct RWKV7GraphBuilder {
    public let model: RWKV7Model
    /// Tokens per sequence.
    public let tokens: Int
    public let logitsForAllTokens: Bool
    /// Sequences run together, T tokens each.
    public let sequences: Int
    /// RWKV-7b: rows of the attention caches (the longest context a state can hold).
    public var contextCapacity = RWKV7Session.defaultContextLimit

    /// RWKV-7b DeepEmbedAttention's soft cap and score scale: `64 · tanh(q·k / 1024)`.
    static let attentionSoftCap: Float = 64, attentionScale: Float = 1.0 / 1024

    /// The decay's scale: `dec = exp(−0.606531 · σ(ω))`, the constant of the official CPU code.
    public static let decayScale: Float = 0.606531
    static let layerNormEps: Float = 1e-5, groupNormEps: Float = 64e-5, l2Eps: Float = 1e-12

    public init(model: RWKV7Model, tokens: Int, logitsForAllTokens: Bool) {
        self.model = model
        self.tokens = tokens
        self.logitsForAllTokens = logitsForAllTokens
        sequences = 1
    }

    /// A batched decode step: one token of each of `sequences` sequences, logits for each.
    public init(model: RWKV7Model, decodingSequences sequences: Int) {
        self.init(model: model, sequences: sequences, tokens: 1)
    }

    /// A batched step: `tokens` tokens of each of `sequences` sequences (ids sequence by sequence), logits
    /// for the last token of each.
    public init(model: RWKV7Model, sequences: Int, tokens: Int) {
        self.model = model
        self.tokens = tokens
        logitsForAllTokens = tokens == 1
        self.sequences = sequences
    }

    public func build() throws -> RWKV7Graph {
        guard sequences >= 1, tokens >= 1 else { throw GraphError("a graph needs at least one token and one sequence") }
        var g = Graph()
        let h = model.hyperparameters
        guard !h.hasAttention || (1...Int(Int32.max)).contains(contextCapacity) else {
            throw GraphError("the context capacity must be at least 1")
        }
        let batch = sequences > 1
        func batched(_ dims: Int...) -> Shape { Shape(batch ? dims + [sequences] : dims) }
        let ids = try g.input("tokens", .i32, Shape(tokens * sequences))
        var x = try g.getRows(g.weight(model.embedding), ids: ids)
        x = try g.layerNorm(x, weight: g.weight(model.ln0Weight), bias: g.weight(model.ln0Bias), eps: Self.layerNormEps)
        let normalizedEmbedding = x
        let position = h.hasAttention ? try g.input("position", .i32, Shape(sequences)) : nil
        var vFirst: Graph.Value?
        var states: [RWKV7Graph.LayerState] = []
        for (i, layer) in model.layers.enumerated() {
            let attention = layer.attention == nil ? nil : RWKV7Graph.AttentionState(
                queryShift: try g.state("dea_q_shift.\(i)", batched(h.attentionKeySize)),
                keyShift: try g.state("dea_k_shift.\(i)", batched(h.attentionKeySize)),
                valueShift: try g.state("dea_v_shift.\(i)", batched(h.embedding)),
                keyCache: try g.state("dea_k_cache.\(i)", batched(h.attentionKeySize, contextCapacity)),
                valueCache: try g.state("dea_v_cache.\(i)", batched(h.embedding, contextCapacity)))
            let state = RWKV7Graph.LayerState(attShift: try g.state("att_shift.\(i)", batched(h.embedding)),
                                              ffnShift: try g.state("ffn_shift.\(i)", batched(h.embedding)),
                                              wkv: try g.state("wkv.\(i)", batched(h.headSize, h.headSize, h.heads)),
                                              attention: attention)
            states.append(state)
            let blockInput = x
            x = try timeMix(&g, layer, x, shiftState: state.attShift, wkvState: state.wkv, vFirst: &vFirst)
            if let weights = layer.attention, let attention, let position {
                x = try g.add(x, try deepEmbedAttention(&g, weights, blockInput, state: attention, position: position,
                                                        ids: ids, embedding: normalizedEmbedding))
            }
            x = try channelMix(&g, layer, x, shiftState: state.ffnShift, ids: ids, embedding: normalizedEmbedding)
        }
        if !logitsForAllTokens && tokens > 1 { x = try g.rows(x, start: tokens - 1, count: 1, sequences: sequences) }
        x = try g.layerNorm(x, weight: g.weight(model.lnOutWeight), bias: g.weight(model.lnOutBias), eps: Self.layerNormEps)
        let logits = try matmul(&g, model.head, x)
        try g.output(logits, "logits")
        return RWKV7Graph(graph: g, tokens: ids, states: states, logits: logits, position: position)
    }

    /// Time mixing ("attention"): token shift, projections, LoRAs, WKV, GroupNorm, bonus, gate.
    func timeMix(_ g: inout Graph, _ l: RWKV7Model.Layer, _ x: Graph.Value, shiftState: Graph.Value,
                 wkvState: Graph.Value, vFirst: inout Graph.Value?) throws -> Graph.Value {
        let n = model.hyperparameters.headSize, heads = model.hyperparameters.heads
        func w(_ t: Tensor) -> Graph.Value { g.weight(t) }
        func mm(_ weight: Tensor, _ x: Graph.Value) throws -> Graph.Value { try matmul(&g, weight, x) }
        let xa = try g.layerNorm(x, weight: w(l.ln1Weight), bias: w(l.ln1Bias), eps: Self.layerNormEps)
        let previous = try tokenShift(&g, xa, shiftState)
        func mixed(_ mu: Tensor) throws -> Graph.Value { try g.lerp(xa, previous, w(mu)) }

        let r = try mm(l.receptance, try mixed(l.mixR))
        let k = try mm(l.key, try mixed(l.mixK))
        let xv = try mixed(l.mixV)
        var v = try mm(l.value, xv)
        let xw = try mixed(l.mixW), xa_ = try mixed(l.mixA), xg = try mixed(l.mixG)
        try storeLastRow(&g, xa, into: shiftState)
        let omega = try g.add(try mm(l.w2, try g.tanh(try mm(l.w1, xw))), w(l.w0))
        let decay = try g.exp(try g.scale(try g.sigmoid(omega), -Self.decayScale))
        let alpha = try g.sigmoid(try g.add(try mm(l.a2, try mm(l.a1, xa_)), w(l.a0)))
        let gate = try mm(l.g2, try g.sigmoid(try mm(l.g1, xg)))

        // κ = normalised k ⊙ k_k, computed twice so that a = −κ and b = κ ⊙ α each ride on their own
        // normalisation (one phase sooner than reading one κ twice).
        let kk = try g.mul(k, w(l.kK))
        func kappa() throws -> Graph.Value { try g.l2NormalizeHeads(kk, headSize: n, eps: Self.l2Eps) }
        let kModified = try g.mul(k, try g.add(try g.mul(alpha, w(l.kA)), w(l.oneMinusKA)))
        if let first = vFirst, let v0 = l.v0, let v1 = l.v1, let v2 = l.v2 {
            let residual = try g.sigmoid(try g.add(try mm(v2, try mm(v1, xv)), w(v0)))
            v = try g.lerp(v, first, residual)
        } else {
            vFirst = v
        }
        let y = try g.wkv7(r: r, w: decay, k: kModified, v: v, a: try g.scale(try kappa(), -1), b: try g.mul(try kappa(), alpha),
                           state: wkvState, headSize: n, sequences: sequences)
        var z = try g.groupNorm(y, weight: w(l.lnXWeight), bias: w(l.lnXBias), groups: heads, eps: Self.groupNormEps)
        z = try g.add(z, try g.headDotScale(r, kModified, w(l.rK), v, headSize: n))
        return try g.add(x, try mm(l.output, try g.mul(z, gate)))
    }

    /// A projection; in a batched step each sequence's columns are multiplied as that sequence alone would be.
    func matmul(_ g: inout Graph, _ weight: Tensor, _ x: Graph.Value) throws -> Graph.Value {
        try g.matmul(g.weight(weight), x, sequences: sequences)
    }

    /// The previous token's row for each token: the state for each sequence's first. One token reads the
    /// state as is.
    func tokenShift(_ g: inout Graph, _ x: Graph.Value, _ state: Graph.Value) throws -> Graph.Value {
        tokens == 1 ? state : try g.shift(x, previous: state, sequences: sequences)
    }

    /// Saves each sequence's last row as the next call's shift state (recorded after every reader of the state).
    func storeLastRow(_ g: inout Graph, _ x: Graph.Value, into state: Graph.Value) throws {
        try g.store(tokens == 1 ? x : try g.rows(x, start: tokens - 1, count: 1, sequences: sequences), into: state)
    }

    /// Channel mixing ("FFN"): token shift, squared-ReLU key, value; RWKV-7a scales the hidden units by the
    /// DeepEmbed term `(xf·s1)·M_t·s2 + s0`, M_t = the token's row of `s_emb` (plus `s_emb_x`·E'[t], merged
    /// here per token rather than over the whole table) viewed as D × 32.
    func channelMix(_ g: inout Graph, _ l: RWKV7Model.Layer, _ x: Graph.Value, shiftState: Graph.Value,
                    ids: Graph.Value, embedding: Graph.Value) throws -> Graph.Value {
        let xf = try g.layerNorm(x, weight: g.weight(l.ln2Weight), bias: g.weight(l.ln2Bias), eps: Self.layerNormEps)
        let xk = try g.lerp(xf, try tokenShift(&g, xf, shiftState), g.weight(l.ffnMix))
        try storeLastRow(&g, xf, into: shiftState)
        var hidden = try g.unary(.reluSquared, try matmul(&g, l.ffnKey, xk))
        if let de = l.deepEmbed {
            let matrices = try g.add(try g.getRows(g.weight(de.table), ids: ids), try matmul(&g, de.residual, embedding))
            let u = try g.vectorTimesTokenMatrix(try matmul(&g, de.s1, xf), matrices, columns: 32)
            hidden = try g.mul(hidden, try g.add(try matmul(&g, de.s2, u), g.weight(de.s0)))
        }
        return try g.add(x, try matmul(&g, l.ffnValue, hidden))
    }

    /// RWKV-7b DeepEmbedAttention of the block input `x`: queries `qq·x`; keys `(k2·k1·x) ⊙ k_emb'[t]` and values
    /// `tanh(v2·v1·x) ⊙ v_emb'[t]` (the tables plus their embedding residuals, merged per token); each token
    /// shifted and LayerNormed; then soft-capped causal attention over every earlier token's key and value,
    /// kept normalised in the caches (rows of earlier positions never change, so they are computed once).
    func deepEmbedAttention(_ g: inout Graph, _ a: RWKV7Model.DeepEmbedAttention, _ x: Graph.Value,
                            state: RWKV7Graph.AttentionState, position: Graph.Value, ids: Graph.Value,
                            embedding: Graph.Value) throws -> Graph.Value {
        func w(_ t: Tensor) -> Graph.Value { g.weight(t) }
        func mm(_ weight: Tensor, _ x: Graph.Value) throws -> Graph.Value { try matmul(&g, weight, x) }
        let q = try mm(a.query, x)
        let keyRows = try g.add(try g.getRows(w(a.keyTable), ids: ids), try mm(a.keyResidual, embedding))
        let valueRows = try g.add(try g.getRows(w(a.valueTable), ids: ids), try mm(a.valueResidual, embedding))
        let k = try g.mul(try mm(a.keyUp, try mm(a.keyDown, x)), keyRows)
        let v = try g.mul(try g.tanh(try mm(a.valueUp, try mm(a.valueDown, x))), valueRows)
        let qMixed = try g.lerp(q, try tokenShift(&g, q, state.queryShift), w(a.mixQ))
        let kMixed = try g.lerp(k, try tokenShift(&g, k, state.keyShift), w(a.mixK))
        let vMixed = try g.lerp(v, try tokenShift(&g, v, state.valueShift), w(a.mixV))
        try storeLastRow(&g, q, into: state.queryShift)
        try storeLastRow(&g, k, into: state.keyShift)
        try storeLastRow(&g, v, into: state.valueShift)
        let eps = Self.layerNormEps
        let scores = try g.attentionScores(
            queries: try g.layerNorm(qMixed, weight: w(a.qNormWeight), bias: w(a.qNormBias), eps: eps),
            keys: try g.layerNorm(kMixed, weight: w(a.kNormWeight), bias: w(a.kNormBias), eps: eps),
            keyCache: state.keyCache, position: position, softCap: Self.attentionSoftCap, scale: Self.attentionScale, sequences: sequences)
        return try g.attentionMix(probabilities: try g.softmaxRows(scores),
                                  values: try g.layerNorm(vMixed, weight: w(a.vNormWeight), bias: w(a.vNormBias), eps: eps),
                                  valueCache: state.valueCache, position: position, sequences: sequences)
    }
}
