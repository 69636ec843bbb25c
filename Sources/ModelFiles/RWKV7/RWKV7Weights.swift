import Tensor

/// An RWKV-7 model's tensors in llama.cpp's GGUF `rwkv7` names and layouts, whatever file they came from,
/// with its hyperparameters inferred from shapes and checked. Large matrices stay zero-copy views of the
/// file; only the small tensors whose layout differs (LoRA transposes, the fused mixes) are copied.
public struct RWKV7Weights: @unchecked Sendable {
    public let hyperparameters: RWKV7Hyperparameters
    /// By GGUF name. Layer 0's unused value-residual LoRA is not kept.
    public let tensors: [String: Tensor]
    public let sourcePath: String
    public let sourceFormat: CheckpointFormat

    /// The tensor `name` (GGUF naming).
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw ModelFileError(sourcePath, "missing tensor '\(name)'") }
        return t
    }

    /// Bytes read from memory per decoded token: every weight except the tables gathered by token id
    /// (`token_embd`, DeepEmbed's `channel_mix_s_emb`), of which one row each.
    public var bytesPerToken: Int {
        tensors.reduce(0) { total, entry in
            let isTable = entry.key == "token_embd.weight" || entry.key.hasSuffix("channel_mix_s_emb.weight")
            return total + (isTable ? entry.value.rowBytes : entry.value.byteCount)
        }
    }

    /// GGUF names in llama.cpp's writing order.
    public var orderedNames: [String] { hyperparameters.expectedShapes().map(\.name) }

    /// Loads any supported checkpoint.
    public init(_ checkpoint: Checkpoint) throws {
        do {
            try self.init(validating: checkpoint)
        } catch let error as TensorError {
            throw ModelFileError(checkpoint.path, error.description)
        }
    }

    private init(validating checkpoint: Checkpoint) throws {
        let path = checkpoint.path
        var byName: [String: Tensor] = [:]
        for (name, tensor) in checkpoint.tensors { byName[name] = tensor }
        var canonical: [String: Tensor] = [:]
        var headSize: Int?

        switch checkpoint.format {
        case .gguf:
            if let architecture = checkpoint.gguf?["general.architecture"]?.string, architecture != "rwkv7" {
                throw ModelFileError(path, "architecture '\(architecture)' is not rwkv7")
            }
            for (name, tensor) in checkpoint.tensors where !Self.isLayerZeroValueLoRA(name, gguf: true) {
                canonical[name] = tensor
            }
            headSize = checkpoint.gguf?["rwkv7.wkv.head_size"]?.integer
        case .generated:
            throw ModelFileError(path, "generated weights have no checkpoint")
        case .pth, .safetensors, .rwkvCpp:
            let fusedMixes = checkpoint.format == .rwkvCpp
            let preTransposed = checkpoint.format == .rwkvCpp
            if byName["blocks.0.att.r_k"] == nil {
                let hint = byName.keys.contains { $0.hasPrefix("model.layers.") } ? " (Hugging Face naming is not supported; use the official .pth)" : ""
                throw ModelFileError(path, "not an RWKV-7 checkpoint: no 'blocks.0.att.r_k'\(hint)")
            }
            if byName["blocks.0.qkv.qq.weight"] != nil {
                throw ModelFileError(path, "RWKV-7b (DeepEmbedAttention) checkpoints are not supported yet")
            }
            let rk = byName["blocks.0.att.r_k"]!
            headSize = rk.shape.rank >= 2 ? rk.shape[0] : nil
            for (name, tensor) in checkpoint.tensors {
                if Self.isLayerZeroValueLoRA(name, gguf: false) { continue }
                if RWKV7Names.mixes.contains(where: { name.hasSuffix("." + $0) }) || name.hasSuffix(".att.x_rwkvag") { continue }
                guard let (ggufName, layout) = RWKV7Names.gguf(forOfficial: name) else {
                    throw ModelFileError(path, "unexpected tensor '\(name)' for RWKV-7")
                }
                if layout == .transposed && !preTransposed {
                    canonical[ggufName] = try Self.transposed(tensor, name: name, path: path)
                } else if tensor.shape.count == tensor.shape[0] || name.hasSuffix("att.r_k") {
                    canonical[ggufName] = try tensor.reshaped(Shape(tensor.count))
                } else {
                    canonical[ggufName] = tensor
                }
            }
            // Fuse the token-shift mixes (order r, w, k, v, a, g) into one F32 [C, 1, 1, 6].
            let layers = Set(checkpoint.tensors.compactMap { RWKV7Names.splitLayer($0.name, prefix: "blocks.")?.0 })
            for layer in layers {
                let fused: Tensor
                if fusedMixes {
                    guard let x = byName["blocks.\(layer).att.x_rwkvag"] else { throw ModelFileError(path, "missing tensor 'blocks.\(layer).att.x_rwkvag'") }
                    fused = try Self.f32(x, name: "blocks.\(layer).att.x_rwkvag", path: path).reshaped(Shape(x.shape[0], 1, 1, x.count / max(1, x.shape[0])))
                } else {
                    var values: [Float] = []
                    for mix in RWKV7Names.mixes {
                        guard let x = byName["blocks.\(layer).\(mix)"] else { throw ModelFileError(path, "missing tensor 'blocks.\(layer).\(mix)'") }
                        values += x.floats()
                    }
                    fused = try Tensor(values, shape: Shape(values.count / 6, 1, 1, 6))
                }
                canonical["blk.\(layer).time_mix_lerp_fused.weight"] = fused
            }
        }

        // Vectors may arrive as [C, 1, 1]; store them as [C].
        for (name, tensor) in canonical where tensor.shape.rank > 1 && tensor.shape.count == tensor.shape[0] {
            canonical[name] = try tensor.reshaped(Shape(tensor.count))
        }
        hyperparameters = try Self.infer(canonical, headSize: headSize, path: path)
        if let gguf = checkpoint.gguf { try hyperparameters.check(against: gguf) }
        tensors = canonical
        sourcePath = path
        sourceFormat = checkpoint.format
        try validate()
    }

    /// Weights made in memory (GGUF names and layouts), validated against `hyperparameters`.
    public init(hyperparameters: RWKV7Hyperparameters, tensors: [String: Tensor], name: String) throws {
        self.hyperparameters = hyperparameters
        self.tensors = tensors
        sourcePath = name
        sourceFormat = .generated
        try validate()
    }

    /// A copy with some tensors replaced (e.g. converted to another dtype).
    public init(_ base: RWKV7Weights, replacing: [String: Tensor]) throws {
        var merged = base.tensors
        for (name, tensor) in replacing { merged[name] = tensor }
        hyperparameters = base.hyperparameters
        tensors = merged
        sourcePath = base.sourcePath
        sourceFormat = base.sourceFormat
        try validate()
    }

    /// Every expected tensor present with its expected shape; nothing unexpected.
    private func validate() throws {
        let expected = hyperparameters.expectedShapes()
        for (name, dims) in expected {
            guard let t = tensors[name] else { throw ModelFileError(sourcePath, "missing tensor \(Self.describe(name))") }
            guard t.shape.dims == dims else {
                throw ModelFileError(sourcePath, "tensor '\(RWKV7Names.official(forGGUF: name) ?? name)' has shape \(t.shape), expected \(Shape(dims)) for \(hyperparameters.summary)")
            }
            guard t.dtype != .i32 else { throw ModelFileError(sourcePath, "tensor '\(name)' has integer type i32") }
        }
        let known = Set(expected.map(\.name))
        if let extra = tensors.keys.sorted().first(where: { !known.contains($0) }) {
            throw ModelFileError(sourcePath, "unexpected tensor '\(extra)' for a \(hyperparameters.layers)-layer RWKV-7")
        }
    }

    static func infer(_ t: [String: Tensor], headSize: Int?, path: String) throws -> RWKV7Hyperparameters {
        func need(_ name: String) throws -> Tensor {
            guard let x = t[name] else { throw ModelFileError(path, "missing tensor '\(RWKV7Names.official(forGGUF: name) ?? name)'") }
            return x
        }
        let embedding = try need("token_embd.weight")
        guard embedding.shape.rank == 2 else { throw ModelFileError(path, "embedding has shape \(embedding.shape), expected [C, V]") }
        let c = embedding.shape[0]
        var layers = 0
        while t["blk.\(layers).attn_norm.weight"] != nil { layers += 1 }
        guard layers > 0 else { throw ModelFileError(path, "no layers found (missing 'blocks.0.ln1.weight')") }
        let n = headSize ?? 64
        guard n > 0, c % n == 0 else { throw ModelFileError(path, "head size \(n) does not divide n_embd \(c)") }
        func rank(_ name: String) throws -> Int { try need(name).shape[1] }
        let valueLayer = layers > 1 ? 1 : 0
        var result = RWKV7Hyperparameters(
            vocabularySize: embedding.shape[1], embedding: c, layers: layers, headSize: n,
            decayRank: try rank("blk.0.time_mix_w1.weight"), iclrRank: try rank("blk.0.time_mix_a1.weight"),
            valueRank: layers > 1 ? try rank("blk.\(valueLayer).time_mix_v1.weight") : 0,
            gateRank: try rank("blk.0.time_mix_g1.weight"), ffnSize: try rank("blk.0.channel_mix_key.weight"))
        if let s1 = t["blk.0.channel_mix_s1.weight"] {
            guard s1.shape.rank == 2, s1.shape[1] > 0 else { throw ModelFileError(path, "DeepEmbed 's1' has shape \(s1.shape)") }
            result.deepEmbedRank = s1.shape[1]
        }
        return result
    }

    /// `'blk.1.time_mix_g2.weight' (official name 'blocks.1.att.g2')`.
    static func describe(_ ggufName: String) -> String {
        RWKV7Names.official(forGGUF: ggufName).map { "'\(ggufName)' (official name '\($0)')" } ?? "'\(ggufName)'"
    }

    static func isLayerZeroValueLoRA(_ name: String, gguf: Bool) -> Bool {
        gguf ? ["blk.0.time_mix_v0.weight", "blk.0.time_mix_v1.weight", "blk.0.time_mix_v2.weight"].contains(name)
            : ["blocks.0.att.v0", "blocks.0.att.v1", "blocks.0.att.v2"].contains(name)
    }

    /// The transpose of a 2-D float tensor (element size 2 or 4), in owned memory of the same dtype.
    static func transposed(_ t: Tensor, name: String, path: String) throws -> Tensor {
        guard t.shape.rank == 2, !t.dtype.isQuantized, t.dtype != .i32 else {
            throw ModelFileError(path, "'\(name)' must be a 2-D float matrix, got \(t.dtype) \(t.shape)")
        }
        let rows = t.shape[1], columns = t.shape[0], size = t.dtype.bytesPerBlock
        let out = try Tensor(zeros: t.dtype, Shape(rows, columns))
        t.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for r in 0..<rows {
                    for c in 0..<columns {
                        (dst.baseAddress! + (c * rows + r) * size).copyMemory(from: src.baseAddress! + (r * columns + c) * size, byteCount: size)
                    }
                }
            }
        }
        return out
    }

    static func f32(_ t: Tensor, name: String, path: String) throws -> Tensor {
        do { return try t.converted(to: .f32) } catch { throw ModelFileError(path, "'\(name)': \(error)") }
    }
}

extension RWKV7Hyperparameters {
    /// `L12 C768 H12×64 V65536 F3072`.
    public var summary: String { "L\(layers) C\(embedding) H\(heads)×\(headSize) V\(vocabularySize) F\(ffnSize)" }
}

extension RWKV7Hyperparameters {
    /// Throws unless every hyperparameter the GGUF metadata states agrees with the tensors, naming the key.
    func check(against gguf: GGUFFile) throws {
        for (key, value) in Self.ggufKeys {
            guard let stated = gguf[key] else { continue }
            // A one-layer model has no value-residual LoRA to infer the rank from.
            if key == "rwkv7.attention.value_residual_mix_lora_rank" && layers == 1 { continue }
            guard let number = stated.integer else { throw ModelFileError(gguf.path, "metadata \(key) is \(stated.summary), not an integer") }
            guard number == self[keyPath: value] else {
                throw ModelFileError(gguf.path, "metadata \(key) = \(number) contradicts the tensors, which give \(self[keyPath: value]) (\(summary))")
            }
        }
    }
}
