import ModelFiles
import Tensor

/// An RWKV-7 model ready to run: one field per checkpoint tensor (llama.cpp's naming in comments),
/// with the token-shift mixes split out of the fused tensor and storage-only types (bf16) converted.
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

    /// Prepares `weights` for inference. bf16 matrices and every non-f32 vector are widened to f32
    /// (exactly); the matmul weights are copied into one ``WeightArena`` in the order decode reads them,
    /// Q8_0/Q4_0 matrices repacked into the 8-row interleaved layouts on the way. Each source tensor is
    /// dropped once copied, so passing weights that nothing else holds keeps one copy of the model alive.
    public init(_ weights: consuming RWKV7Weights) throws {
        let h = weights.hyperparameters
        let sourcePath = weights.sourcePath
        var tensors = weights.tensors
        _ = consume weights
        func source(_ name: String) throws -> Tensor {
            guard let tensor = tensors[name] else { throw ModelFileError(sourcePath, "missing tensor '\(name)'") }
            return tensor
        }
        /// The tensor `name`, no longer held here (so its memory goes once the model has copied or kept it).
        func take(_ name: String) throws -> Tensor {
            let tensor = try source(name)
            tensors[name] = nil
            return tensor
        }
        func t(_ name: String) throws -> Tensor {
            let tensor = try take(name)
            let isVector = tensor.shape.count == tensor.shape[0]
            return tensor.dtype == .bf16 || (isVector && tensor.dtype != .f32) ? try tensor.converted(to: .f32) : tensor
        }
        let order = Self.matmulReadOrder(h)
        var arenaBytes = 0
        for name in order {
            let matrix = try source(name)
            arenaBytes += WeightArena.footprint(matrix.dtype == .bf16 ? .f32 : matrix.dtype, matrix.shape)
        }
        var arena = WeightArena(byteCount: arenaBytes)
        var matrices: [String: Tensor] = [:]
        for name in order { matrices[name] = try arena.place(try t(name)) }
        func m(_ name: String) -> Tensor { matrices[name]! }

        hyperparameters = h
        embedding = try t("token_embd.weight")
        ln0Weight = try t("token_embd_norm.weight")
        ln0Bias = try t("token_embd_norm.bias")
        lnOutWeight = try t("output_norm.weight")
        lnOutBias = try t("output_norm.bias")
        head = m("output.weight")
        let c = h.embedding
        layers = try (0..<h.layers).map { i in
            let p = "blk.\(i)."
            let fused = try t(p + "time_mix_lerp_fused.weight").converted(to: .f32)
            func mix(_ slot: Int) -> Tensor {
                Tensor(dtype: .f32, shape: Shape(c), storage: fused.storage, byteOffset: fused.byteOffset + slot * c * 4)
            }
            let kA = try t(p + "time_mix_k_a.weight").converted(to: .f32)
            return Layer(
                ln1Weight: try t(p + "attn_norm.weight"), ln1Bias: try t(p + "attn_norm.bias"),
                ln2Weight: try t(p + "attn_norm_2.weight"), ln2Bias: try t(p + "attn_norm_2.bias"),
                mixR: mix(0), mixW: mix(1), mixK: mix(2), mixV: mix(3), mixA: mix(4), mixG: mix(5),
                w0: try t(p + "time_mix_w0.weight"), w1: m(p + "time_mix_w1.weight"), w2: m(p + "time_mix_w2.weight"),
                a0: try t(p + "time_mix_a0.weight"), a1: m(p + "time_mix_a1.weight"), a2: m(p + "time_mix_a2.weight"),
                v0: i == 0 ? nil : try t(p + "time_mix_v0.weight"), v1: i == 0 ? nil : m(p + "time_mix_v1.weight"),
                v2: i == 0 ? nil : m(p + "time_mix_v2.weight"),
                g1: m(p + "time_mix_g1.weight"), g2: m(p + "time_mix_g2.weight"),
                kK: try t(p + "time_mix_k_k.weight"), kA: kA, rK: try t(p + "time_mix_r_k.weight"),
                oneMinusKA: try Tensor(kA.floats().map { 1 - $0 }, shape: Shape(c)),
                receptance: m(p + "time_mix_receptance.weight"), key: m(p + "time_mix_key.weight"),
                value: m(p + "time_mix_value.weight"), output: m(p + "time_mix_output.weight"),
                lnXWeight: try t(p + "time_mix_ln.weight"), lnXBias: try t(p + "time_mix_ln.bias"),
                ffnMix: try t(p + "channel_mix_lerp_k.weight"), ffnKey: m(p + "channel_mix_key.weight"),
                ffnValue: m(p + "channel_mix_value.weight"),
                deepEmbed: h.deepEmbedRank == 0 ? nil : DeepEmbed(
                    // The V × D·32 table is only gathered, a row per token: keep it as stored (mapped, any type).
                    table: try take(p + "channel_mix_s_emb.weight"), residual: m(p + "channel_mix_s_emb_x.weight"),
                    s1: m(p + "channel_mix_s1.weight"), s2: m(p + "channel_mix_s2.weight"), s0: try t(p + "channel_mix_s0.weight")))
        }
    }

    /// The matmul weights in the order the executor reads them: per layer by graph phase (the projections
    /// of the token-shifted inputs with the LoRAs' first halves, then their second halves — the activations
    /// between ride on the first halves' tasks —, the output projection, the FFN), the head last.
    static func matmulReadOrder(_ h: RWKV7Hyperparameters) -> [String] {
        var names: [String] = []
        for i in 0..<h.layers {
            let valueResidual = i == 0 ? [] : ["v1"], valueResidual2 = i == 0 ? [] : ["v2"]
            let attention = ["receptance", "key", "value", "w1", "a1", "g1"] + valueResidual + ["w2", "a2", "g2"] + valueResidual2 + ["output"]
            names += attention.map { "blk.\(i).time_mix_\($0).weight" }
            let deepEmbed = h.deepEmbedRank == 0 ? [] : ["s_emb_x", "s1", "s2"]
            names += (["key"] + deepEmbed + ["value"]).map { "blk.\(i).channel_mix_\($0).weight" }
        }
        return names + ["output.weight"]
    }

    /// Loads a model file of any supported format.
    public init(path: String) throws {
        try self.init(try RWKV7Weights(try Checkpoint.open(path)))
    }
}
