/// The shape of an RWKV-7 model, inferred from its tensors (never from file names or defaults).
public struct RWKV7Hyperparameters: Equatable, Sendable, Codable {
    public var vocabularySize: Int
    public var embedding: Int
    public var layers: Int
    public var headSize: Int
    public var decayRank: Int
    public var iclrRank: Int
    public var valueRank: Int
    public var gateRank: Int
    public var ffnSize: Int
    /// RWKV-7a DeepEmbed rank D (0 = plain RWKV-7): per layer a token table of D × 32 values per token,
    /// `s1` [C → D], `s2` [32 → F], `s0` [F].
    public var deepEmbedRank: Int = 0

    public var heads: Int { embedding / headSize }

    /// The `rwkv7.*` GGUF metadata keys that state a hyperparameter (llama.cpp's names; the DeepEmbed rank
    /// is ours): the writer writes them and the reader checks them against the tensors.
    public static let ggufKeys: [(key: String, value: KeyPath<RWKV7Hyperparameters, Int> & Sendable)] = [
        ("rwkv7.embedding_length", \.embedding), ("rwkv7.block_count", \.layers), ("rwkv7.wkv.head_size", \.headSize),
        ("rwkv7.attention.decay_lora_rank", \.decayRank), ("rwkv7.attention.iclr_lora_rank", \.iclrRank),
        ("rwkv7.attention.value_residual_mix_lora_rank", \.valueRank), ("rwkv7.attention.gate_lora_rank", \.gateRank),
        ("rwkv7.feed_forward_length", \.ffnSize), ("rwkv7.deep_embed_rank", \.deepEmbedRank),
    ]

    /// "RWKV-7" or "RWKV-7a (DeepEmbed)".
    public var variant: String { deepEmbedRank > 0 ? "RWKV-7a (DeepEmbed)" : "RWKV-7" }

    public init(vocabularySize: Int, embedding: Int, layers: Int, headSize: Int, decayRank: Int,
                iclrRank: Int, valueRank: Int, gateRank: Int, ffnSize: Int, deepEmbedRank: Int = 0) {
        self.deepEmbedRank = deepEmbedRank
        self.vocabularySize = vocabularySize
        self.embedding = embedding
        self.layers = layers
        self.headSize = headSize
        self.decayRank = decayRank
        self.iclrRank = iclrRank
        self.valueRank = valueRank
        self.gateRank = gateRank
        self.ffnSize = ffnSize
    }

    /// The GGUF-layout shape every tensor of layer `i` (or the model) must have, by GGUF name.
    public func expectedShapes() -> [(name: String, dims: [Int])] {
        let c = embedding
        var shapes: [(String, [Int])] = [
            ("token_embd.weight", [c, vocabularySize]), ("token_embd_norm.weight", [c]), ("token_embd_norm.bias", [c]),
        ]
        for i in 0..<layers {
            let p = "blk.\(i)."
            shapes += [
                (p + "attn_norm.weight", [c]), (p + "attn_norm.bias", [c]),
                (p + "attn_norm_2.weight", [c]), (p + "attn_norm_2.bias", [c]),
                (p + "time_mix_lerp_fused.weight", [c, 1, 1, 6]),
                (p + "time_mix_w0.weight", [c]), (p + "time_mix_w1.weight", [c, decayRank]), (p + "time_mix_w2.weight", [decayRank, c]),
                (p + "time_mix_a0.weight", [c]), (p + "time_mix_a1.weight", [c, iclrRank]), (p + "time_mix_a2.weight", [iclrRank, c]),
            ]
            if i > 0 {
                shapes += [(p + "time_mix_v0.weight", [c]), (p + "time_mix_v1.weight", [c, valueRank]), (p + "time_mix_v2.weight", [valueRank, c])]
            }
            shapes += [
                (p + "time_mix_g1.weight", [c, gateRank]), (p + "time_mix_g2.weight", [gateRank, c]),
                (p + "time_mix_k_k.weight", [c]), (p + "time_mix_k_a.weight", [c]), (p + "time_mix_r_k.weight", [c]),
                (p + "time_mix_receptance.weight", [c, c]), (p + "time_mix_key.weight", [c, c]),
                (p + "time_mix_value.weight", [c, c]), (p + "time_mix_output.weight", [c, c]),
                (p + "time_mix_ln.weight", [c]), (p + "time_mix_ln.bias", [c]),
                (p + "channel_mix_lerp_k.weight", [c]), (p + "channel_mix_key.weight", [c, ffnSize]),
                (p + "channel_mix_value.weight", [ffnSize, c]),
            ]
            if deepEmbedRank > 0 {
                let width = deepEmbedRank * 32
                shapes += [
                    (p + "channel_mix_s_emb.weight", [width, vocabularySize]), (p + "channel_mix_s_emb_x.weight", [c, width]),
                    (p + "channel_mix_s1.weight", [c, deepEmbedRank]), (p + "channel_mix_s2.weight", [32, ffnSize]),
                    (p + "channel_mix_s0.weight", [ffnSize]),
                ]
            }
        }
        shapes += [("output_norm.weight", [c]), ("output_norm.bias", [c]), ("output.weight", [c, vocabularySize])]
        return shapes
    }

    /// Parameter count (weights only; layer 0's unused value-residual LoRA excluded).
    public var parameterCount: Int { expectedShapes().reduce(0) { $0 + $1.dims.reduce(1, *) } }
}
