import Foundation
import ModelFiles
import RWKVGraph
import Tensor

/// RWKV-7 models of the official sizes with seeded random weights, generated directly in the target
/// dtype row by row (no f32 copy of the whole model), for benchmarks that need no download.
public enum RandomModel {
    /// An official size: layers, width and the LoRA ranks of the released checkpoints.
    struct Size {
        let layers: Int
        let embedding: Int
        /// Decay (w) and in-context learning rate (a) share one rank.
        let decayAndIclrRank: Int
        let valueRank: Int
        let gateRank: Int
    }

    /// The released RWKV-7 sizes (G1 0.1B–2.9B, G0 7.2B, G0b 13.3B), as their checkpoints' tensor shapes give.
    /// The training code's rank formulas (`1.8·√C`, `1.3·√C`, `0.6·C^0.8`, rounded to 32) do not give them all:
    /// 0.4B's gate rank is 128, not 160, and 13.3B's ranks were chosen by hand.
    static let sizes: KeyValuePairs<String, Size> = [
        "0.1b": Size(layers: 12, embedding: 768, decayAndIclrRank: 64, valueRank: 32, gateRank: 128),
        "0.4b": Size(layers: 24, embedding: 1024, decayAndIclrRank: 64, valueRank: 32, gateRank: 128),
        "1.5b": Size(layers: 24, embedding: 2048, decayAndIclrRank: 96, valueRank: 64, gateRank: 256),
        "2.9b": Size(layers: 32, embedding: 2560, decayAndIclrRank: 96, valueRank: 64, gateRank: 320),
        "7.2b": Size(layers: 32, embedding: 4096, decayAndIclrRank: 128, valueRank: 96, gateRank: 480),
        "13.3b": Size(layers: 61, embedding: 4096, decayAndIclrRank: 192, valueRank: 128, gateRank: 384),
    ]

    /// The variants a shape name's suffix selects: `-de` RWKV-7a DeepEmbed (as rwkv7a-g1b-0.1b), `-dea` RWKV-7b
    /// DeepEmbedAttention with DeepEmbed (as rwkv7b-g1b-0.1b: queries and keys of 256, caches of 32).
    static let variants: KeyValuePairs<String, (deepEmbedRank: Int, attentionKeySize: Int, attentionCacheRank: Int)> = [
        "": (0, 0, 0), "-de": (32, 0, 0), "-dea": (32, 256, 32),
    ]

    /// The hyperparameters of an official size with a variant suffix (``variants``).
    public static func shape(named name: String) -> RWKV7Hyperparameters? {
        let lower = name.lowercased()
        for (suffix, variant) in variants.reversed() where lower.hasSuffix(suffix) {
            guard let size = sizes.first(where: { $0.key == String(lower.dropLast(suffix.count)) })?.value else { continue }
            return RWKV7Hyperparameters(vocabularySize: 65536, embedding: size.embedding, layers: size.layers, headSize: 64,
                                        decayRank: size.decayAndIclrRank, iclrRank: size.decayAndIclrRank, valueRank: size.valueRank,
                                        gateRank: size.gateRank, ffnSize: 4 * size.embedding, deepEmbedRank: variant.deepEmbedRank,
                                        attentionKeySize: variant.attentionKeySize, attentionCacheRank: variant.attentionCacheRank)
        }
        return nil
    }

    /// Official sizes, then each with `-de` (RWKV-7a DeepEmbed), then with `-dea` (RWKV-7b).
    public static var shapeNames: [String] { variants.flatMap { variant in sizes.map { $0.key + variant.key } } }

    /// Bytes the model will occupy at `plan` (what `make` allocates).
    public static func bytes(_ h: RWKV7Hyperparameters, plan: QuantizationPlan) -> Int {
        RWKV7Tensor.all(h).reduce(0) { total, entry in
            let shape = entry.tensor.shape(h)
            return total + dtype(entry.tensor, entry.layer, shape, plan).rowBytes(shape.rowLength) * shape.rowCount
        }
    }

    /// The type each tensor has in a file `rwkv convert --type PLAN` writes (llama.cpp's choices), with
    /// DeepEmbed's tables F16, as released.
    static func dtype(_ tensor: RWKV7Tensor, _ layer: Int?, _ shape: Shape, _ plan: QuantizationPlan) -> DType {
        tensor.declaration.role == .table ? .f16 : RWKV7Conversion.convertType(tensor, layer: layer, shape: shape, current: .f32, to: plan)
    }

    /// A model of shape `h` at `plan`, each tensor of the type ``dtype(_:_:_:_:)`` gives and uniform in its
    /// declared range (``RWKV7Tensor/Declaration``), which keeps activations realistic.
    public static func make(_ h: RWKV7Hyperparameters, plan: QuantizationPlan, seed: UInt64 = 42) throws -> RWKV7Weights {
        var generator = SeededGenerator(seed: seed)
        var tensors: [String: Tensor] = [:]
        for (kind, layer) in RWKV7Tensor.all(h) {
            let shape = kind.shape(h)
            let dtype = dtype(kind, layer, shape, plan)
            let range = kind.declaration.randomRange(h)
            let tensor = try Tensor(zeros: dtype, shape)
            let n = shape.rowLength
            var row = [Float](repeating: 0, count: n)
            tensor.withUnsafeMutableBytes { raw in
                for r in 0..<shape.rowCount {
                    for i in 0..<n { row[i] = range.lowerBound + (range.upperBound - range.lowerBound) * (generator.nextSigned() * 0.5 + 0.5) }
                    row.withUnsafeBufferPointer { dtype.encode($0.baseAddress!, into: raw.baseAddress! + r * tensor.rowBytes, count: n) }
                }
            }
            tensors[kind.ggufName(layer: layer ?? 0)] = tensor
        }
        return try RWKV7Weights(hyperparameters: h, tensors: tensors, name: "random \(plan)")
    }
}
