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
    /// RWKV-7b DeepEmbedAttention: the width of its queries and keys (256 in released models; 0 = none).
    public var attentionKeySize: Int = 0
    /// RWKV-7b DeepEmbedAttention: the width of its compressed key and value projections (`k1`, `v1`: 32).
    public var attentionCacheRank: Int = 0

    /// Heads of ``headSize`` channels (0 for a shape without a head size, as a corrupt header may give).
    public var heads: Int { headSize > 0 ? embedding / headSize : 0 }

    /// The `rwkv7.*` GGUF metadata keys that state a hyperparameter (llama.cpp's names; the DeepEmbed rank
    /// is ours): the writer writes them and the reader checks them against the tensors.
    public static let ggufKeys: [(key: String, value: KeyPath<RWKV7Hyperparameters, Int> & Sendable)] = [
        ("rwkv7.embedding_length", \.embedding), ("rwkv7.block_count", \.layers), ("rwkv7.wkv.head_size", \.headSize),
        ("rwkv7.attention.decay_lora_rank", \.decayRank), ("rwkv7.attention.iclr_lora_rank", \.iclrRank),
        ("rwkv7.attention.value_residual_mix_lora_rank", \.valueRank), ("rwkv7.attention.gate_lora_rank", \.gateRank),
        ("rwkv7.feed_forward_length", \.ffnSize), ("rwkv7.deep_embed_rank", \.deepEmbedRank),
        ("rwkv7.deep_embed_attention.key_length", \.attentionKeySize), ("rwkv7.deep_embed_attention.cache_rank", \.attentionCacheRank),
    ]

    /// Whether a model of this shape writes `key` (the DeepEmbed keys only for the variants that have them).
    public func writes(_ key: String) -> Bool {
        switch key {
        case "rwkv7.deep_embed_rank": deepEmbedRank > 0
        case "rwkv7.deep_embed_attention.key_length", "rwkv7.deep_embed_attention.cache_rank": hasAttention
        default: true
        }
    }

    /// Whether this is an RWKV-7b (DeepEmbedAttention) shape.
    public var hasAttention: Bool { attentionKeySize > 0 }

    /// "RWKV-7" or "RWKV-7a (DeepEmbed)".
    public var variant: String {
        hasAttention ? "RWKV-7b (DeepEmbedAttention)" : deepEmbedRank > 0 ? "RWKV-7a (DeepEmbed)" : "RWKV-7"
    }

    public init(vocabularySize: Int, embedding: Int, layers: Int, headSize: Int, decayRank: Int,
                iclrRank: Int, valueRank: Int, gateRank: Int, ffnSize: Int, deepEmbedRank: Int = 0,
                attentionKeySize: Int = 0, attentionCacheRank: Int = 0) {
        self.deepEmbedRank = deepEmbedRank
        self.attentionKeySize = attentionKeySize
        self.attentionCacheRank = attentionCacheRank
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

    /// The GGUF name and shape of every tensor of a model of this shape, in llama.cpp's writing order (from
    /// the declaration in ``RWKV7Tensor``).
    public func expectedShapes() -> [(name: String, dims: [Int])] {
        RWKV7Tensor.all(self).map { ($0.tensor.ggufName(layer: $0.layer ?? 0), $0.tensor.declaration.shape(self)) }
    }

    /// Parameter count (weights only; layer 0's unused value-residual LoRA excluded).
    public var parameterCount: Int { expectedShapes().reduce(0) { $0 + $1.dims.reduce(1, *) } }
}
