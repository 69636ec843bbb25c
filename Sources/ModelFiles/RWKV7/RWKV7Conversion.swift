import Tensor

/// Which dtype each tensor gets when a model is converted or quantized — llama.cpp's choices for rwkv7.
public enum RWKV7Conversion {
    /// `rwkv convert --type T` (llama.cpp's converter, then llama-quantize for block types), by role
    /// (``RWKV7Tensor/Role``):
    /// - vectors, norms, the fused mixes and the decay LoRA (`w1`, `w2`): F32 always;
    /// - the other LoRAs and DeepEmbed's matrices and table: F32 when the layer's recipe is f32, else F16
    ///   (llama-quantize leaves them F16);
    /// - the embedding, the head and the six projections per layer: as ``QuantizationPlan`` chooses.
    /// With no plan, every tensor keeps its type except the forced-F32 ones.
    public static func convertType(_ name: String, _ tensor: Tensor, to plan: QuantizationPlan?) -> DType {
        guard let (kind, layer) = RWKV7Tensor.parse(gguf: name) else { return plan?.mainRecipe.type ?? tensor.dtype }
        return convertType(kind, layer: layer, shape: tensor.shape, current: tensor.dtype, to: plan)
    }

    /// The same for a tensor of kind `kind` in `layer` and `shape` that is `current` now.
    public static func convertType(_ kind: RWKV7Tensor, layer: Int?, shape: Shape, current: DType, to plan: QuantizationPlan?) -> DType {
        switch kind.declaration.role {
        case .vector, .lora(keepsF32: true): .f32
        case .projection: plan?.type(of: kind, layer: layer, name: kind.ggufName(layer: layer ?? 0), shape: shape, current: current) ?? current
        case .lora, .table: plan.map { $0.recipe(forLayer: layer).type == .f32 ? .f32 : .f16 } ?? current
        }
    }

    /// `rwkv quantize --type T` (llama-quantize): only the quantizable tensors change; everything else is kept.
    public static func quantizeType(_ name: String, _ tensor: Tensor, to plan: QuantizationPlan) -> DType {
        guard let (kind, layer) = RWKV7Tensor.parse(gguf: name) else { return tensor.dtype }
        return plan.type(of: kind, layer: layer, name: name, shape: tensor.shape, current: tensor.dtype)
    }

    /// `weights` with every tensor converted to `choose(name, tensor)`; conversions go through f32 with the
    /// reference quantizers, so the bytes equal gguf-py's on the same input. `progress(done, total)`.
    public static func apply(_ weights: RWKV7Weights, choose: (String, Tensor) -> DType,
                             progress: ((Int, Int) -> Void)? = nil) throws -> RWKV7Weights {
        var replaced: [String: Tensor] = [:]
        let names = weights.orderedNames
        for (i, name) in names.enumerated() {
            let tensor = try weights.tensor(name)
            let type = choose(name, tensor)
            if type != tensor.dtype { replaced[name] = try tensor.converted(to: type) }
            progress?(i + 1, names.count)
        }
        return try RWKV7Weights(weights, replacing: replaced)
    }

    /// `general.file_type` (llama_ftype) for the embedding's dtype (its file type for an in-memory layout),
    /// for files written without a plan.
    public static func fileType(_ weights: RWKV7Weights) -> UInt32 {
        let type = weights.tensors[RWKV7Tensor.embedding.ggufName()]?.dtype ?? .f32
        return (type.interleavedFrom ?? type).traits.llamaFileType ?? 0
    }
}

extension RWKV7Weights {
    /// The weights to run at precision `plan` (nil: as they are): the quantizable set converted exactly
    /// as `rwkv quantize --type` converts it, so running an F32 file at Q4_0 equals quantizing it first.
    public func converted(toRunAt plan: QuantizationPlan?) throws -> RWKV7Weights {
        guard let plan else { return self }
        return try RWKV7Conversion.apply(self) { RWKV7Conversion.quantizeType($0, $1, to: plan) }
    }

    /// The same for a plain type.
    public func converted(toRunAt type: DType?) throws -> RWKV7Weights { try converted(toRunAt: type.map { QuantizationPlan($0) }) }
}

/// Writing an ``RWKV7Weights`` as a llama.cpp-compatible GGUF.
public enum RWKV7GGUF {
    /// A writer holding the `rwkv7` metadata (llama.cpp's keys) and every tensor in llama.cpp's order,
    /// including layer 0's dummy value-residual tensors (copies of its `a0/a1/a2`, as llama.cpp writes).
    /// `fileType` is `general.file_type` (default: the embedding's type's).
    public static func writer(for weights: RWKV7Weights, name: String, vocabulary: WorldVocabulary? = nil, fileType: UInt32? = nil) throws -> GGUFWriter {
        let h = weights.hyperparameters
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("rwkv7"))
        writer.set("general.name", .string(name))
        writer.set("rwkv7.context_length", .uint32(1_048_576))
        // llama.cpp's order: the layer-norm eps comes after the embedding length and block count.
        for (index, (key, value)) in RWKV7Hyperparameters.ggufKeys.enumerated() where h.writes(key) {
            if index == 2 { writer.set("rwkv7.attention.layer_norm_epsilon", .float32(1e-5)) }
            writer.set(key, .uint32(UInt32(h[keyPath: value])))
        }
        writer.set("rwkv7.attention.head_count", .uint32(0))
        writer.set("rwkv7.token_shift_count", .uint32(2))
        writer.set("general.file_type", .uint32(fileType ?? RWKV7Conversion.fileType(weights)))
        writer.set("general.quantization_version", .uint32(2))
        if let vocabulary {
            guard vocabulary.modelSize <= h.vocabularySize else {
                throw ModelFileError(vocabulary.path, "vocabulary has ids up to \(vocabulary.modelSize - 1) but the model has \(h.vocabularySize) rows")
            }
            for (key, value) in vocabulary.ggufMetadata(modelSize: h.vocabularySize) { writer.set(key, value) }
        }
        for name in weights.orderedNames {
            try writer.add(name, try weights.tensor(name))
            if name == RWKV7Tensor.a2.ggufName(layer: 0) {
                for (v, a) in [(RWKV7Tensor.v0, RWKV7Tensor.a0), (.v1, .a1), (.v2, .a2)] {
                    try writer.add(v.ggufName(layer: 0), try weights.tensor(a.ggufName(layer: 0)))
                }
            }
        }
        return writer
    }
}
