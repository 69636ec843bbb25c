import ModelFiles
import Tensor

/// An RWKV-7 model ready to run: one field per checkpoint tensor (llama.cpp's naming in comments),
/// with the token-shift mixes split out of the fused tensor and vectors widened to f32.
public struct RWKV7Model: @unchecked Sendable {
    /// One block's tensors.
    public struct Layer: @unchecked Sendable {
        public let ln1Weight, ln1Bias, ln2Weight, ln2Bias: Tensor            // attn_norm, attn_norm_2
        /// Token-shift mixes μ_r, μ_w, μ_k, μ_v, μ_a, μ_g (views of time_mix_lerp_fused).
        public let mixR, mixW, mixK, mixV, mixA, mixG: Tensor
        public let w0, w1, w2: Tensor                                         // decay
        public let a0, a1, a2: Tensor                                         // in-context learning rate
        public let v0, v1, v2: Tensor?                                        // value residual (layers ≥ 1)
        public let g1, g2: Tensor                                             // output gate
        public let kK, kA, rK: Tensor                                         // k_k, k_a, r_k (flat)
        /// `1 − k_a`, so that `k' = k ⊙ (α ⊙ k_a + (1 − k_a))`.
        public let oneMinusKA: Tensor
        public let receptance, key, value, output: Tensor
        public let lnXWeight, lnXBias: Tensor                                 // time_mix_ln (GroupNorm)
        public let ffnMix, ffnKey, ffnValue: Tensor                           // channel_mix_lerp_k, key, value
        /// RWKV-7a DeepEmbed (nil for plain RWKV-7).
        public let deepEmbed: DeepEmbed?
        /// RWKV-7b DeepEmbedAttention (nil for RWKV-7 and 7a).
        public let attention: DeepEmbedAttention?
    }

    /// A layer's DeepEmbedAttention tensors (BlinkDL's `qkv.*`): the query projection `qq` [C, Q]; the compressed
    /// key and value projections `k1` [C, R], `v1` [C, R] and their expansions `k2` [R, Q], `v2` [R, C]; the
    /// per-token tables `k_emb` [Q, V], `v_emb` [C, V] (gathered, kept as stored) with their embedding residuals
    /// `k_emb_x` [C, Q], `v_emb_x` [C, C] (merged per token); the token-shift mixes and LayerNorms of q, k, v.
    public struct DeepEmbedAttention: @unchecked Sendable {
        public let query, keyDown, keyUp, keyTable, keyResidual: Tensor
        public let valueDown, valueUp, valueTable, valueResidual: Tensor
        public let mixQ, mixK, mixV: Tensor
        public let qNormWeight, qNormBias, kNormWeight, kNormBias, vNormWeight, vNormBias: Tensor
    }

    /// A layer's DeepEmbed tensors: the per-token table `s_emb` [D·32, V] (gathered by token id, kept as
    /// stored), its embedding residual `s_emb_x` [C, D·32] (merged lazily per token), `s1` [C, D], `s2` [32, F],
    /// `s0` [F].
    public struct DeepEmbed: @unchecked Sendable {
        public let table, residual, s1, s2, s0: Tensor
    }

    public let hyperparameters: RWKV7Hyperparameters
    public let embedding: Tensor                                              // token_embd [C, V]
    public let ln0Weight, ln0Bias: Tensor                                     // token_embd_norm
    public let layers: [Layer]
    public let lnOutWeight, lnOutBias: Tensor                                 // output_norm
    public let head: Tensor                                                   // output [C, V]

    /// Prepares `weights` for inference. Every non-f32 vector is widened to f32
    /// (exactly); the matmul weights are copied into one ``WeightArena`` in the order decode reads them,
    /// matrices of the types with an r8 layout repacked into it on the way. Each source tensor is
    /// dropped once copied, so passing weights that nothing else holds keeps one copy of the model alive.
    /// A model whose packed weights need more than `availableMemory` bytes (default: what the system reports
    /// available) is refused before anything is allocated.
    public init(_ weights: consuming RWKV7Weights, availableMemory: Int? = SystemMemory.availableBytes()) throws {
        let h = weights.hyperparameters
        let sourcePath = weights.sourcePath
        var tensors = weights.tensors
        _ = consume weights
        func source(_ name: String) throws -> Tensor {
            guard let tensor = tensors[name] else { throw ModelFileError(sourcePath, "missing tensor '\(name)'") }
            return tensor
        }
        /// Tensor `kind` of layer `layer` (or the model), no longer held here (so its memory goes once the
        /// model has copied or kept it).
        func take(_ kind: RWKV7Tensor, _ layer: Int = 0) throws -> Tensor {
            let name = kind.ggufName(layer: layer)
            let tensor = try source(name)
            tensors[name] = nil
            return tensor
        }
        /// The same, as the graph uses it (``runnable(_:)``).
        func t(_ kind: RWKV7Tensor, _ layer: Int = 0) throws -> Tensor {
            try Self.runnable(try take(kind, layer))
        }
        // The matmul weights go into one arena, in the order decode reads them.
        let order = RWKV7Tensor.decodeReadOrder(h)
        var arenaBytes = 0
        for (kind, layer) in order {
            let matrix = try source(kind.ggufName(layer: layer ?? 0))
            arenaBytes += WeightArena.footprint(matrix.dtype, matrix.shape)
        }
        if let refusal = SystemMemory.refusal(needed: arenaBytes, available: availableMemory, what: "the model (packed weights)") {
            throw ModelFileError(sourcePath, refusal)
        }
        var arena = WeightArena(byteCount: arenaBytes)
        let names = order.map { $0.tensor.ggufName(layer: $0.layer ?? 0) }
        let placed = try arena.placeAll(try order.map { try t($0.tensor, $0.layer ?? 0) })
        let matrices = Dictionary(uniqueKeysWithValues: zip(names, placed))
        func m(_ kind: RWKV7Tensor, _ layer: Int = 0) -> Tensor { matrices[kind.ggufName(layer: layer)]! }

        hyperparameters = h
        embedding = try t(.embedding)
        ln0Weight = try t(.embeddingNormWeight)
        ln0Bias = try t(.embeddingNormBias)
        lnOutWeight = try t(.outputNormWeight)
        lnOutBias = try t(.outputNormBias)
        head = m(.head)
        let c = h.embedding
        layers = try (0..<h.layers).map { i in
            let fused = try t(.mixes, i).converted(to: .f32)
            func mix(_ slot: Int) -> Tensor {
                Tensor(dtype: .f32, shape: Shape(c), storage: fused.storage, byteOffset: fused.byteOffset + slot * c * 4)
            }
            let kA = try t(.kA, i).converted(to: .f32)
            let hasValueResidual = RWKV7Tensor.v1.exists(in: h, layer: i)
            return Layer(
                ln1Weight: try t(.ln1Weight, i), ln1Bias: try t(.ln1Bias, i), ln2Weight: try t(.ln2Weight, i), ln2Bias: try t(.ln2Bias, i),
                mixR: mix(0), mixW: mix(1), mixK: mix(2), mixV: mix(3), mixA: mix(4), mixG: mix(5),
                w0: try t(.w0, i), w1: m(.w1, i), w2: m(.w2, i),
                a0: try t(.a0, i), a1: m(.a1, i), a2: m(.a2, i),
                v0: hasValueResidual ? try t(.v0, i) : nil, v1: hasValueResidual ? m(.v1, i) : nil, v2: hasValueResidual ? m(.v2, i) : nil,
                g1: m(.g1, i), g2: m(.g2, i),
                kK: try t(.kK, i), kA: kA, rK: try t(.rK, i),
                oneMinusKA: try Tensor(kA.floats().map { 1 - $0 }, shape: Shape(c)),
                receptance: m(.receptance, i), key: m(.key, i), value: m(.value, i), output: m(.output, i),
                lnXWeight: try t(.lnXWeight, i), lnXBias: try t(.lnXBias, i),
                ffnMix: try t(.ffnMix, i), ffnKey: m(.ffnKey, i), ffnValue: m(.ffnValue, i),
                deepEmbed: h.deepEmbedRank == 0 ? nil : DeepEmbed(
                    // The V × D·32 table is only gathered, a row per token: keep it as stored (mapped, any type).
                    table: try take(.deepEmbedTable, i), residual: m(.deepEmbedResidual, i),
                    s1: m(.s1, i), s2: m(.s2, i), s0: try t(.s0, i)),
                attention: h.hasAttention ? DeepEmbedAttention(
                    query: m(.attentionQuery, i), keyDown: m(.attentionKeyDown, i), keyUp: m(.attentionKeyUp, i),
                    keyTable: try take(.attentionKeyTable, i), keyResidual: m(.attentionKeyResidual, i),
                    valueDown: m(.attentionValueDown, i), valueUp: m(.attentionValueUp, i),
                    valueTable: try take(.attentionValueTable, i), valueResidual: m(.attentionValueResidual, i),
                    mixQ: try t(.attentionMixQ, i), mixK: try t(.attentionMixK, i), mixV: try t(.attentionMixV, i),
                    qNormWeight: try t(.attentionQNormWeight, i), qNormBias: try t(.attentionQNormBias, i),
                    kNormWeight: try t(.attentionKNormWeight, i), kNormBias: try t(.attentionKNormBias, i),
                    vNormWeight: try t(.attentionVNormWeight, i), vNormBias: try t(.attentionVNormBias, i)) : nil)
        }
    }

    /// `tensor` as the graph uses it: vectors widened to f32 (exactly); matrices run in their own type
    /// (bf16 included: its kernels widen 8 values at a time, reading 2 bytes per weight).
    static func runnable(_ tensor: Tensor) throws -> Tensor {
        let isVector = tensor.shape.count == tensor.shape[0]
        return isVector && tensor.dtype != .f32 ? try tensor.converted(to: .f32) : tensor
    }

    /// Loads a model file of any supported format.
    public init(path: String) throws {
        try self.init(try RWKV7Weights(try Checkpoint.open(path)))
    }
}
