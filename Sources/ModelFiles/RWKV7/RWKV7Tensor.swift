import Tensor

/// Every tensor of an RWKV-7 (RWKV-7a DeepEmbed, RWKV-7b DeepEmbedAttention) model, declared once: its GGUF name (llama.cpp's
/// `rwkv7` names), its official checkpoint name and how that layout differs, its shape, its role (which
/// decides its type when converted or quantized), its place in decode's read order, and the value range of
/// the random benchmark models. The loaders, the converter, the weight arena and the benchmark models all
/// derive from this table. Cases are in llama.cpp's writing order.
public enum RWKV7Tensor: CaseIterable, Sendable {
    case embedding, embeddingNormWeight, embeddingNormBias
    case ln1Weight, ln1Bias, ln2Weight, ln2Bias, mixes
    case w0, w1, w2, a0, a1, a2, v0, v1, v2, g1, g2, kK, kA, rK
    case receptance, key, value, output, lnXWeight, lnXBias
    case ffnMix, ffnKey, ffnValue
    case deepEmbedTable, deepEmbedResidual, s1, s2, s0
    case attentionQuery, attentionKeyDown, attentionKeyUp, attentionKeyTable, attentionKeyResidual
    case attentionValueDown, attentionValueUp, attentionValueTable, attentionValueResidual
    case attentionMixQ, attentionMixK, attentionMixV
    case attentionQNormWeight, attentionQNormBias, attentionKNormWeight, attentionKNormBias, attentionVNormWeight, attentionVNormBias
    case outputNormWeight, outputNormBias, head

    /// Where a tensor exists.
    public enum Scope: Sendable {
        /// Once per model.
        case model
        /// In every layer.
        case layer
        /// In every layer but the first (the value-residual LoRA; llama.cpp writes dummies for layer 0).
        case layerAfterFirst
        /// In every layer of an RWKV-7a (DeepEmbed) or RWKV-7b model.
        case deepEmbed
        /// In every layer of an RWKV-7b (DeepEmbedAttention) model.
        case deepEmbedAttention
    }

    /// What a tensor is, which decides its type in converted and quantized files (llama.cpp's choices).
    public enum Role: Sendable, Equatable {
        /// A large matrix that `rwkv quantize` (llama-quantize) quantizes: the embedding, the head and the six
        /// projections of each layer.
        case projection
        /// A LoRA or DeepEmbed matrix: F16 once converted to a non-f32 type, except those llama.cpp keeps F32.
        case lora(keepsF32: Bool)
        /// A vector (norms, biases, w0, k_k, …) or the fused token-shift mixes: always F32.
        case vector
        /// DeepEmbed's per-token table, gathered a row at a time: F16 once converted to a non-f32 type.
        case table
    }

    /// How the official checkpoint's layout differs from GGUF's.
    public enum Layout: Sendable {
        /// Same bytes (vectors squeezed or flattened to `[C]`).
        case same
        /// The GGUF tensor is the transpose of the official matrix (the LoRA matrices).
        case transposed
    }

    /// One row of the table.
    public struct Declaration: Sendable {
        /// GGUF name; for layer tensors the part after `blk.N.`.
        public let gguf: String
        /// Official name; for layer tensors the part after `blocks.N.` (nil for the fused mixes, which the
        /// official checkpoint keeps as six tensors and rwkv.cpp as `att.x_rwkvag`).
        public let official: String?
        public var layout = Layout.same
        public var scope = Scope.layer
        public let role: Role
        /// Read a row at a time by token id (the embedding and DeepEmbed's table), not as a whole.
        public var isGathered = false
        /// Position of a matmul weight in a layer's decode read order (the head: after every layer); nil for
        /// tensors that are not matmul weights.
        public var readOrder: Int? = nil
        /// The shape in GGUF order for a model of the given hyperparameters.
        public let shape: @Sendable (RWKV7Hyperparameters) -> [Int]
        /// Values of the random benchmark models: uniform in this range.
        public let randomRange: @Sendable (RWKV7Hyperparameters) -> ClosedRange<Float>
    }

    /// This tensor's row of the table.
    public var declaration: Declaration {
        typealias D = Declaration
        let vector: @Sendable (RWKV7Hyperparameters) -> [Int] = { [$0.embedding] }
        let square: @Sendable (RWKV7Hyperparameters) -> [Int] = { [$0.embedding, $0.embedding] }
        let projection: @Sendable (RWKV7Hyperparameters) -> ClosedRange<Float> = { h in
            let bound = 1.7 / Float(h.embedding).squareRoot()
            return -bound...bound
        }
        func fixed(_ range: ClosedRange<Float>) -> @Sendable (RWKV7Hyperparameters) -> ClosedRange<Float> { { _ in range } }
        let lora = fixed(-0.17...0.17), norm = fixed(0.8...1.2), bias = fixed(-0.1...0.1)
        switch self {
        case .embedding:
            return D(gguf: "token_embd.weight", official: "emb.weight", scope: .model, role: .projection, isGathered: true,
                     shape: { [$0.embedding, $0.vocabularySize] }, randomRange: fixed(-1...1))
        case .embeddingNormWeight:
            return D(gguf: "token_embd_norm.weight", official: "blocks.0.ln0.weight", scope: .model, role: .vector, shape: vector, randomRange: norm)
        case .embeddingNormBias:
            return D(gguf: "token_embd_norm.bias", official: "blocks.0.ln0.bias", scope: .model, role: .vector, shape: vector, randomRange: bias)
        case .ln1Weight: return D(gguf: "attn_norm.weight", official: "ln1.weight", role: .vector, shape: vector, randomRange: norm)
        case .ln1Bias: return D(gguf: "attn_norm.bias", official: "ln1.bias", role: .vector, shape: vector, randomRange: bias)
        case .ln2Weight: return D(gguf: "attn_norm_2.weight", official: "ln2.weight", role: .vector, shape: vector, randomRange: norm)
        case .ln2Bias: return D(gguf: "attn_norm_2.bias", official: "ln2.bias", role: .vector, shape: vector, randomRange: bias)
        case .mixes:
            return D(gguf: "time_mix_lerp_fused.weight", official: nil, role: .vector, shape: { [$0.embedding, 1, 1, 6] }, randomRange: fixed(0...1))
        case .w0: return D(gguf: "time_mix_w0.weight", official: "att.w0", role: .vector, shape: vector, randomRange: fixed(-3...0.5))
        case .w1:
            return D(gguf: "time_mix_w1.weight", official: "att.w1", layout: .transposed, role: .lora(keepsF32: true), readOrder: 3,
                     shape: { [$0.embedding, $0.decayRank] }, randomRange: lora)
        case .w2:
            return D(gguf: "time_mix_w2.weight", official: "att.w2", layout: .transposed, role: .lora(keepsF32: true), readOrder: 7,
                     shape: { [$0.decayRank, $0.embedding] }, randomRange: lora)
        case .a0: return D(gguf: "time_mix_a0.weight", official: "att.a0", role: .vector, shape: vector, randomRange: fixed(-0.5...0.5))
        case .a1:
            return D(gguf: "time_mix_a1.weight", official: "att.a1", layout: .transposed, role: .lora(keepsF32: false), readOrder: 4,
                     shape: { [$0.embedding, $0.iclrRank] }, randomRange: lora)
        case .a2:
            return D(gguf: "time_mix_a2.weight", official: "att.a2", layout: .transposed, role: .lora(keepsF32: false), readOrder: 8,
                     shape: { [$0.iclrRank, $0.embedding] }, randomRange: lora)
        case .v0:
            return D(gguf: "time_mix_v0.weight", official: "att.v0", scope: .layerAfterFirst, role: .vector, shape: vector, randomRange: fixed(-0.5...0.5))
        case .v1:
            return D(gguf: "time_mix_v1.weight", official: "att.v1", layout: .transposed, scope: .layerAfterFirst, role: .lora(keepsF32: false),
                     readOrder: 6, shape: { [$0.embedding, $0.valueRank] }, randomRange: lora)
        case .v2:
            return D(gguf: "time_mix_v2.weight", official: "att.v2", layout: .transposed, scope: .layerAfterFirst, role: .lora(keepsF32: false),
                     readOrder: 10, shape: { [$0.valueRank, $0.embedding] }, randomRange: lora)
        case .g1:
            return D(gguf: "time_mix_g1.weight", official: "att.g1", layout: .transposed, role: .lora(keepsF32: false), readOrder: 5,
                     shape: { [$0.embedding, $0.gateRank] }, randomRange: lora)
        case .g2:
            return D(gguf: "time_mix_g2.weight", official: "att.g2", layout: .transposed, role: .lora(keepsF32: false), readOrder: 9,
                     shape: { [$0.gateRank, $0.embedding] }, randomRange: lora)
        case .kK: return D(gguf: "time_mix_k_k.weight", official: "att.k_k", role: .vector, shape: vector, randomRange: fixed(0.5...1))
        case .kA: return D(gguf: "time_mix_k_a.weight", official: "att.k_a", role: .vector, shape: vector, randomRange: fixed(0.5...1.5))
        case .rK: return D(gguf: "time_mix_r_k.weight", official: "att.r_k", role: .vector, shape: vector, randomRange: fixed(-0.5...0.5))
        case .receptance:
            return D(gguf: "time_mix_receptance.weight", official: "att.receptance.weight", role: .projection, readOrder: 0, shape: square, randomRange: projection)
        case .key: return D(gguf: "time_mix_key.weight", official: "att.key.weight", role: .projection, readOrder: 1, shape: square, randomRange: projection)
        case .value: return D(gguf: "time_mix_value.weight", official: "att.value.weight", role: .projection, readOrder: 2, shape: square, randomRange: projection)
        case .output:
            return D(gguf: "time_mix_output.weight", official: "att.output.weight", role: .projection, readOrder: 11, shape: square, randomRange: projection)
        case .lnXWeight: return D(gguf: "time_mix_ln.weight", official: "att.ln_x.weight", role: .vector, shape: vector, randomRange: norm)
        case .lnXBias: return D(gguf: "time_mix_ln.bias", official: "att.ln_x.bias", role: .vector, shape: vector, randomRange: bias)
        case .ffnMix: return D(gguf: "channel_mix_lerp_k.weight", official: "ffn.x_k", role: .vector, shape: vector, randomRange: fixed(0...1))
        case .ffnKey:
            return D(gguf: "channel_mix_key.weight", official: "ffn.key.weight", role: .projection, readOrder: 12,
                     shape: { [$0.embedding, $0.ffnSize] }, randomRange: projection)
        case .ffnValue:
            return D(gguf: "channel_mix_value.weight", official: "ffn.value.weight", role: .projection, readOrder: 16,
                     shape: { [$0.ffnSize, $0.embedding] }, randomRange: { h in
                         let bound = 0.87 / Float(h.ffnSize).squareRoot()
                         return -bound...bound
                     })
        // RWKV-7a DeepEmbed (llama.cpp has no names for these; ours follow its style).
        case .deepEmbedTable:
            return D(gguf: "channel_mix_s_emb.weight", official: "ffn.s_emb.weight", scope: .deepEmbed, role: .table, isGathered: true,
                     shape: { [$0.deepEmbedRank * 32, $0.vocabularySize] }, randomRange: fixed(-0.5...0.5))
        case .deepEmbedResidual:
            return D(gguf: "channel_mix_s_emb_x.weight", official: "ffn.s_emb_x.weight", scope: .deepEmbed, role: .lora(keepsF32: false),
                     readOrder: 13, shape: { [$0.embedding, $0.deepEmbedRank * 32] }, randomRange: fixed(-0.05...0.05))
        case .s1:
            return D(gguf: "channel_mix_s1.weight", official: "ffn.s1", layout: .transposed, scope: .deepEmbed, role: .lora(keepsF32: false),
                     readOrder: 14, shape: { [$0.embedding, $0.deepEmbedRank] }, randomRange: lora)
        case .s2:
            return D(gguf: "channel_mix_s2.weight", official: "ffn.s2", layout: .transposed, scope: .deepEmbed, role: .lora(keepsF32: false),
                     readOrder: 15, shape: { [32, $0.ffnSize] }, randomRange: lora)
        case .s0: return D(gguf: "channel_mix_s0.weight", official: "ffn.s0", scope: .deepEmbed, role: .vector, shape: { [$0.ffnSize] }, randomRange: fixed(0.9...1.1))
        // RWKV-7b DeepEmbedAttention (BlinkDL's `qkv.*`; no llama.cpp names exist, ours follow its style). The
        // matrices stay F16 when converted (their quantization is untested), the tables are gathered by token.
        case .attentionQuery:
            return D(gguf: "dea_q.weight", official: "qkv.qq.weight", scope: .deepEmbedAttention, role: .lora(keepsF32: false), readOrder: 20,
                     shape: { [$0.embedding, $0.attentionKeySize] }, randomRange: projection)
        case .attentionKeyDown:
            return D(gguf: "dea_k1.weight", official: "qkv.k1", layout: .transposed, scope: .deepEmbedAttention, role: .lora(keepsF32: false),
                     readOrder: 21, shape: { [$0.embedding, $0.attentionCacheRank] }, randomRange: fixed(-0.3...0.3))
        case .attentionKeyUp:
            return D(gguf: "dea_k2.weight", official: "qkv.k2", layout: .transposed, scope: .deepEmbedAttention, role: .lora(keepsF32: false),
                     readOrder: 22, shape: { [$0.attentionCacheRank, $0.attentionKeySize] }, randomRange: fixed(-0.3...0.3))
        case .attentionKeyTable:
            return D(gguf: "dea_k_emb.weight", official: "qkv.k_emb.weight", scope: .deepEmbedAttention, role: .table, isGathered: true,
                     shape: { [$0.attentionKeySize, $0.vocabularySize] }, randomRange: fixed(0.5...1.5))
        case .attentionKeyResidual:
            return D(gguf: "dea_k_emb_x.weight", official: "qkv.k_emb_x.weight", scope: .deepEmbedAttention, role: .lora(keepsF32: false),
                     readOrder: 23, shape: { [$0.embedding, $0.attentionKeySize] }, randomRange: fixed(-0.05...0.05))
        case .attentionValueDown:
            return D(gguf: "dea_v1.weight", official: "qkv.v1", layout: .transposed, scope: .deepEmbedAttention, role: .lora(keepsF32: false),
                     readOrder: 24, shape: { [$0.embedding, $0.attentionCacheRank] }, randomRange: fixed(-0.3...0.3))
        case .attentionValueUp:
            return D(gguf: "dea_v2.weight", official: "qkv.v2", layout: .transposed, scope: .deepEmbedAttention, role: .lora(keepsF32: false),
                     readOrder: 25, shape: { [$0.attentionCacheRank, $0.embedding] }, randomRange: fixed(-0.3...0.3))
        case .attentionValueTable:
            return D(gguf: "dea_v_emb.weight", official: "qkv.v_emb.weight", scope: .deepEmbedAttention, role: .table, isGathered: true,
                     shape: { [$0.embedding, $0.vocabularySize] }, randomRange: fixed(0.5...1.5))
        case .attentionValueResidual:
            return D(gguf: "dea_v_emb_x.weight", official: "qkv.v_emb_x.weight", scope: .deepEmbedAttention, role: .lora(keepsF32: false),
                     readOrder: 26, shape: square, randomRange: fixed(-0.05...0.05))
        case .attentionMixQ:
            return D(gguf: "dea_lerp_q.weight", official: "qkv.x_q", scope: .deepEmbedAttention, role: .vector, shape: { [$0.attentionKeySize] }, randomRange: fixed(0...1))
        case .attentionMixK:
            return D(gguf: "dea_lerp_k.weight", official: "qkv.x_k", scope: .deepEmbedAttention, role: .vector, shape: { [$0.attentionKeySize] }, randomRange: fixed(0...1))
        case .attentionMixV:
            return D(gguf: "dea_lerp_v.weight", official: "qkv.x_v", scope: .deepEmbedAttention, role: .vector, shape: vector, randomRange: fixed(0...1))
        case .attentionQNormWeight:
            return D(gguf: "dea_q_norm.weight", official: "qkv.lnq.weight", scope: .deepEmbedAttention, role: .vector, shape: { [$0.attentionKeySize] }, randomRange: norm)
        case .attentionQNormBias:
            return D(gguf: "dea_q_norm.bias", official: "qkv.lnq.bias", scope: .deepEmbedAttention, role: .vector, shape: { [$0.attentionKeySize] }, randomRange: bias)
        case .attentionKNormWeight:
            return D(gguf: "dea_k_norm.weight", official: "qkv.lnk.weight", scope: .deepEmbedAttention, role: .vector, shape: { [$0.attentionKeySize] }, randomRange: norm)
        case .attentionKNormBias:
            return D(gguf: "dea_k_norm.bias", official: "qkv.lnk.bias", scope: .deepEmbedAttention, role: .vector, shape: { [$0.attentionKeySize] }, randomRange: bias)
        case .attentionVNormWeight:
            return D(gguf: "dea_v_norm.weight", official: "qkv.lnv.weight", scope: .deepEmbedAttention, role: .vector, shape: vector, randomRange: fixed(0.1...0.3))
        case .attentionVNormBias:
            return D(gguf: "dea_v_norm.bias", official: "qkv.lnv.bias", scope: .deepEmbedAttention, role: .vector, shape: vector, randomRange: bias)
        case .outputNormWeight: return D(gguf: "output_norm.weight", official: "ln_out.weight", scope: .model, role: .vector, shape: vector, randomRange: norm)
        case .outputNormBias: return D(gguf: "output_norm.bias", official: "ln_out.bias", scope: .model, role: .vector, shape: vector, randomRange: bias)
        case .head:
            return D(gguf: "output.weight", official: "head.weight", scope: .model, role: .projection, readOrder: 100,
                     shape: { [$0.embedding, $0.vocabularySize] }, randomRange: projection)
        }
    }

    /// Whether this tensor is a layer's (as opposed to the model's).
    public var isPerLayer: Bool { declaration.scope != .model }

    /// Whether a model of shape `h` has this tensor in layer `layer` (ignored for model tensors).
    public func exists(in h: RWKV7Hyperparameters, layer: Int) -> Bool {
        switch declaration.scope {
        case .model, .layer: true
        case .layerAfterFirst: layer > 0
        case .deepEmbed: h.deepEmbedRank > 0
        case .deepEmbedAttention: h.hasAttention
        }
    }

    /// The GGUF name (`blk.N.…` in layer `layer` for layer tensors).
    public func ggufName(layer: Int = 0) -> String {
        isPerLayer ? "blk.\(layer).\(declaration.gguf)" : declaration.gguf
    }

    /// The official checkpoint name, where it has one.
    public func officialName(layer: Int = 0) -> String? {
        declaration.official.map { isPerLayer ? "blocks.\(layer).\($0)" : $0 }
    }

    /// The shape in GGUF order for a model of shape `h`.
    public func shape(_ h: RWKV7Hyperparameters) -> Shape { Shape(declaration.shape(h)) }

    /// Every tensor of a model of shape `h`, with its layer (nil for model tensors), in llama.cpp's writing order.
    public static func all(_ h: RWKV7Hyperparameters) -> [(tensor: RWKV7Tensor, layer: Int?)] {
        let perLayer = allCases.filter(\.isPerLayer)
        let before = allCases.prefix { !$0.isPerLayer }, after = allCases.reversed().prefix { !$0.isPerLayer }.reversed()
        var result = before.map { ($0, Int?.none) }
        for layer in 0..<h.layers {
            result += perLayer.filter { $0.exists(in: h, layer: layer) }.map { ($0, layer) }
        }
        return result + after.map { ($0, Int?.none) }
    }

    /// The matmul weights in the order a decode step reads them: per layer by ``Declaration/readOrder``,
    /// the head last. The weight arena lays them out in this order.
    public static func decodeReadOrder(_ h: RWKV7Hyperparameters) -> [(tensor: RWKV7Tensor, layer: Int?)] {
        let perLayer = allCases.filter { $0.isPerLayer && $0.declaration.readOrder != nil }
            .sorted { $0.declaration.readOrder! < $1.declaration.readOrder! }
        var result: [(RWKV7Tensor, Int?)] = []
        for layer in 0..<h.layers { result += perLayer.filter { $0.exists(in: h, layer: layer) }.map { ($0, layer) } }
        return result + allCases.filter { !$0.isPerLayer && $0.declaration.readOrder != nil }.map { ($0, nil) }
    }

    /// The tensor and layer a GGUF name denotes.
    public static func parse(gguf name: String) -> (tensor: RWKV7Tensor, layer: Int?)? {
        if let model = allCases.first(where: { !$0.isPerLayer && $0.declaration.gguf == name }) { return (model, nil) }
        guard let (layer, suffix) = splitLayer(name, prefix: "blk."),
              let tensor = allCases.first(where: { $0.isPerLayer && $0.declaration.gguf == suffix }) else { return nil }
        return (tensor, layer)
    }

    /// The tensor and layer an official name denotes (nil for the six separate mixes and unknown names).
    public static func parse(official name: String) -> (tensor: RWKV7Tensor, layer: Int?)? {
        if let model = allCases.first(where: { !$0.isPerLayer && $0.declaration.official == name }) { return (model, nil) }
        guard let (layer, suffix) = splitLayer(name, prefix: "blocks."),
              let tensor = allCases.first(where: { $0.isPerLayer && $0.declaration.official == suffix }) else { return nil }
        return (tensor, layer)
    }

    /// The official name of the tensor a GGUF name denotes.
    public static func officialName(forGGUF name: String) -> String? {
        parse(gguf: name).flatMap { $0.tensor.officialName(layer: $0.layer ?? 0) }
    }

    /// The official token-shift mixes, in the fused tensor's order (r, w, k, v, a, g), and rwkv.cpp's fused name.
    public static let officialMixes = ["att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g"]
    public static let rwkvCppFusedMixes = "att.x_rwkvag"

    /// `(N, rest)` for `prefixN.rest`.
    static func splitLayer(_ name: String, prefix: String) -> (Int, String)? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0 else { return nil }
        return (layer, String(rest[rest.index(after: dot)...]))
    }
}
