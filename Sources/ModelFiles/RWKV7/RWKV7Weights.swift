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
    /// (the embedding, DeepEmbed's `s_emb`), of which one row each.
    public var bytesPerToken: Int {
        tensors.reduce(0) { total, entry in
            let isGathered = RWKV7Tensor.parse(gguf: entry.key)?.tensor.declaration.isGathered == true
            return total + (isGathered ? entry.value.rowBytes : entry.value.byteCount)
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
            for (name, tensor) in checkpoint.tensors where !Self.isLayerZeroDummy(RWKV7Tensor.parse(gguf: name)) {
                canonical[name] = tensor
            }
            headSize = checkpoint.gguf?["rwkv7.wkv.head_size"]?.integer
        case .generated:
            throw ModelFileError(path, "generated weights have no checkpoint")
        case .pth, .safetensors, .rwkvCpp:
            let fusedMixes = checkpoint.format == .rwkvCpp
            let preTransposed = checkpoint.format == .rwkvCpp
            let rkName = RWKV7Tensor.rK.officialName(layer: 0)!
            if byName[rkName] == nil {
                let hint = byName.keys.contains { $0.hasPrefix("model.layers.") } ? " (Hugging Face naming is not supported; use the official .pth)" : ""
                throw ModelFileError(path, "not an RWKV-7 checkpoint: no '\(rkName)'\(hint)")
            }
            let rk = byName[rkName]!
            headSize = rk.shape.rank >= 2 ? rk.shape[0] : nil
            let mixNames = RWKV7Tensor.officialMixes + [RWKV7Tensor.rwkvCppFusedMixes]
            for (name, tensor) in checkpoint.tensors {
                if mixNames.contains(where: { name.hasSuffix("." + $0) }) { continue }
                guard let parsed = RWKV7Tensor.parse(official: name) else {
                    throw ModelFileError(path, "unexpected tensor '\(name)' for RWKV-7")
                }
                if Self.isLayerZeroDummy(parsed) { continue }
                let ggufName = parsed.tensor.ggufName(layer: parsed.layer ?? 0)
                if parsed.tensor.declaration.layout == .transposed && !preTransposed {
                    canonical[ggufName] = try Self.transposed(tensor, name: name, path: path)
                } else if tensor.shape.count == tensor.shape[0] || parsed.tensor == .rK {
                    canonical[ggufName] = try tensor.reshaped(Shape(tensor.count))
                } else {
                    canonical[ggufName] = tensor
                }
            }
            // Fuse the token-shift mixes (order r, w, k, v, a, g) into one F32 [C, 1, 1, 6].
            let layers = Set(checkpoint.tensors.compactMap { RWKV7Tensor.splitLayer($0.name, prefix: "blocks.")?.0 })
            for layer in layers {
                let fused: Tensor
                if fusedMixes {
                    let fusedName = "blocks.\(layer).\(RWKV7Tensor.rwkvCppFusedMixes)"
                    guard let x = byName[fusedName] else { throw ModelFileError(path, "missing tensor '\(fusedName)'") }
                    fused = try Self.f32(x, name: fusedName, path: path).reshaped(Shape(x.shape[0], 1, 1, x.count / max(1, x.shape[0])))
                } else {
                    var values: [Float] = []
                    for mix in RWKV7Tensor.officialMixes {
                        guard let x = byName["blocks.\(layer).\(mix)"] else { throw ModelFileError(path, "missing tensor 'blocks.\(layer).\(mix)'") }
                        values += x.floats()
                    }
                    fused = try Tensor(values, shape: Shape(values.count / 6, 1, 1, 6))
                }
                canonical[RWKV7Tensor.mixes.ggufName(layer: layer)] = fused
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
                throw ModelFileError(sourcePath, "tensor '\(RWKV7Tensor.officialName(forGGUF: name) ?? name)' has shape \(t.shape), expected \(Shape(dims)) for \(hyperparameters.summary)")
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
            guard let x = t[name] else { throw ModelFileError(path, "missing tensor '\(RWKV7Tensor.officialName(forGGUF: name) ?? name)'") }
            return x
        }
        let embedding = try need(RWKV7Tensor.embedding.ggufName())
        guard embedding.shape.rank == 2 else { throw ModelFileError(path, "embedding has shape \(embedding.shape), expected [C, V]") }
        let c = embedding.shape[0]
        var layers = 0
        while t[RWKV7Tensor.ln1Weight.ggufName(layer: layers)] != nil { layers += 1 }
        guard layers > 0 else { throw ModelFileError(path, "no layers found (missing 'blocks.0.ln1.weight')") }
        let n = headSize ?? 64
        guard n > 0, c % n == 0 else { throw ModelFileError(path, "head size \(n) does not divide n_embd \(c)") }
        func rank(_ tensor: RWKV7Tensor, layer: Int = 0) throws -> Int { try need(tensor.ggufName(layer: layer)).shape[1] }
        var result = RWKV7Hyperparameters(
            vocabularySize: embedding.shape[1], embedding: c, layers: layers, headSize: n,
            decayRank: try rank(.w1), iclrRank: try rank(.a1), valueRank: layers > 1 ? try rank(.v1, layer: 1) : 0,
            gateRank: try rank(.g1), ffnSize: try rank(.ffnKey))
        if let s1 = t[RWKV7Tensor.s1.ggufName()] {
            guard s1.shape.rank == 2, s1.shape[1] > 0 else { throw ModelFileError(path, "DeepEmbed 's1' has shape \(s1.shape)") }
            result.deepEmbedRank = s1.shape[1]
        }
        if let q = t[RWKV7Tensor.attentionQuery.ggufName()] {
            guard q.shape.rank == 2, q.shape[1] > 0 else { throw ModelFileError(path, "DeepEmbedAttention 'qq' has shape \(q.shape)") }
            result.attentionKeySize = q.shape[1]
            result.attentionCacheRank = try rank(.attentionKeyDown)
        }
        return result
    }

    /// `'blk.1.time_mix_g2.weight' (official name 'blocks.1.att.g2')`.
    static func describe(_ ggufName: String) -> String {
        RWKV7Tensor.officialName(forGGUF: ggufName).map { "'\(ggufName)' (official name '\($0)')" } ?? "'\(ggufName)'"
    }

    /// Layer 0's value-residual LoRA: unused (llama.cpp writes copies of a0/a1/a2 there), not kept.
    static func isLayerZeroDummy(_ parsed: (tensor: RWKV7Tensor, layer: Int?)?) -> Bool {
        guard let parsed else { return false }
        return parsed.tensor.declaration.scope == .layerAfterFirst && parsed.layer == 0
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
