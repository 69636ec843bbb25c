import Tensor

/// Official RWKV-7 checkpoint names (`blocks.N.att.key.weight`) ⇄ llama.cpp's GGUF `rwkv7` names
/// (`blk.N.time_mix_key.weight`), with the layout change each needs.
public enum RWKV7Names {
    /// How a tensor's memory differs between the official layout and GGUF's.
    public enum Layout: Sendable {
        /// Same bytes (vectors squeezed or flattened to `[C]`).
        case same
        /// The GGUF tensor is the transpose of the official matrix (the LoRA matrices).
        case transposed
    }

    /// Per-layer official suffix → (GGUF suffix, layout). The six token-shift mixes `att.x_r … x_g` are
    /// not here: GGUF fuses them into `time_mix_lerp_fused` (order r, w, k, v, a, g).
    public static let layerMap: [(official: String, gguf: String, layout: Layout)] = [
        ("ln1.weight", "attn_norm.weight", .same), ("ln1.bias", "attn_norm.bias", .same),
        ("ln2.weight", "attn_norm_2.weight", .same), ("ln2.bias", "attn_norm_2.bias", .same),
        ("att.w0", "time_mix_w0.weight", .same), ("att.w1", "time_mix_w1.weight", .transposed), ("att.w2", "time_mix_w2.weight", .transposed),
        ("att.a0", "time_mix_a0.weight", .same), ("att.a1", "time_mix_a1.weight", .transposed), ("att.a2", "time_mix_a2.weight", .transposed),
        ("att.v0", "time_mix_v0.weight", .same), ("att.v1", "time_mix_v1.weight", .transposed), ("att.v2", "time_mix_v2.weight", .transposed),
        ("att.g1", "time_mix_g1.weight", .transposed), ("att.g2", "time_mix_g2.weight", .transposed),
        ("att.k_k", "time_mix_k_k.weight", .same), ("att.k_a", "time_mix_k_a.weight", .same), ("att.r_k", "time_mix_r_k.weight", .same),
        ("att.receptance.weight", "time_mix_receptance.weight", .same), ("att.key.weight", "time_mix_key.weight", .same),
        ("att.value.weight", "time_mix_value.weight", .same), ("att.output.weight", "time_mix_output.weight", .same),
        ("att.ln_x.weight", "time_mix_ln.weight", .same), ("att.ln_x.bias", "time_mix_ln.bias", .same),
        ("ffn.x_k", "channel_mix_lerp_k.weight", .same),
        ("ffn.key.weight", "channel_mix_key.weight", .same), ("ffn.value.weight", "channel_mix_value.weight", .same),
        // RWKV-7a DeepEmbed (llama.cpp has no names for these; ours follow its style).
        ("ffn.s_emb.weight", "channel_mix_s_emb.weight", .same), ("ffn.s_emb_x.weight", "channel_mix_s_emb_x.weight", .same),
        ("ffn.s1", "channel_mix_s1.weight", .transposed), ("ffn.s2", "channel_mix_s2.weight", .transposed),
        ("ffn.s0", "channel_mix_s0.weight", .same),
    ]

    /// Model-level official name → GGUF name.
    public static let modelMap: [(official: String, gguf: String)] = [
        ("emb.weight", "token_embd.weight"), ("blocks.0.ln0.weight", "token_embd_norm.weight"),
        ("blocks.0.ln0.bias", "token_embd_norm.bias"), ("ln_out.weight", "output_norm.weight"),
        ("ln_out.bias", "output_norm.bias"), ("head.weight", "output.weight"),
    ]

    /// Token-shift mix names in fused order.
    public static let mixes = ["att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g"]

    /// The GGUF name for an official name (nil for the six mixes, which are fused, and unknown names).
    public static func gguf(forOfficial name: String) -> (name: String, layout: Layout)? {
        if let match = modelMap.first(where: { $0.official == name }) { return (match.gguf, .same) }
        guard let (layer, suffix) = splitLayer(name, prefix: "blocks.") else { return nil }
        guard let match = layerMap.first(where: { $0.official == suffix }) else { return nil }
        return ("blk.\(layer).\(match.gguf)", match.layout)
    }

    /// The official name for a GGUF name (nil for `time_mix_lerp_fused` and unknown names).
    public static func official(forGGUF name: String) -> String? {
        if let match = modelMap.first(where: { $0.gguf == name }) { return match.official }
        guard let (layer, suffix) = splitLayer(name, prefix: "blk.") else { return nil }
        guard let match = layerMap.first(where: { $0.gguf == suffix }) else { return nil }
        return "blocks.\(layer).\(match.official)"
    }

    /// Quantized by `rwkv quantize` (llama-quantize's set for rwkv7): the embedding, the head and the
    /// six big projections of each layer.
    public static func isQuantizable(_ ggufName: String) -> Bool {
        if ggufName == "token_embd.weight" || ggufName == "output.weight" { return true }
        return ["time_mix_receptance.weight", "time_mix_key.weight", "time_mix_value.weight", "time_mix_output.weight",
                "channel_mix_key.weight", "channel_mix_value.weight"].contains { ggufName.hasSuffix("." + $0) }
    }

    /// Forced to F32 by llama.cpp's converter whatever the output type: vectors, norms, the decay LoRA and
    /// the fused mixes.
    public static func isForcedF32(_ ggufName: String, shape: Shape) -> Bool {
        shape.count == shape[0] || ggufName.contains("_norm") || ggufName.hasSuffix("time_mix_w1.weight")
            || ggufName.hasSuffix("time_mix_w2.weight") || ggufName.hasSuffix("time_mix_lerp_fused.weight")
    }

    static func splitLayer(_ name: String, prefix: String) -> (Int, String)? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0 else { return nil }
        return (layer, String(rest[rest.index(after: dot)...]))
    }
}
