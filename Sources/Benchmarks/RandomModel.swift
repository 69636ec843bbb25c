import Foundation
import ModelFiles
import RWKVGraph
import Tensor

/// RWKV-7 models of the official sizes with seeded random weights, generated directly in the target
/// dtype row by row (no f32 copy of the whole model), for benchmarks that need no download.
public enum RandomModel {
    /// The official sizes, with the LoRA ranks of the released checkpoints' formulas
    /// (`max(32, round(1.8·√C/32)·32)` for decay and iclr, `1.3·√C` for value, `0.6·C^0.8` for gate).
    public static func shape(named name: String) -> RWKV7Hyperparameters? {
        let sizes: [String: (layers: Int, embedding: Int)] = ["0.1b": (12, 768), "0.4b": (24, 1024), "1.5b": (24, 2048), "2.9b": (32, 2560)]
        let lower = name.lowercased()
        let deepEmbed = lower.hasSuffix("-de")
        guard let size = sizes[deepEmbed ? String(lower.dropLast(3)) : lower] else { return nil }
        let c = Double(size.embedding)
        func rank(_ x: Double) -> Int { max(32, Int((x / 32).rounded()) * 32) }
        return RWKV7Hyperparameters(vocabularySize: 65536, embedding: size.embedding, layers: size.layers, headSize: 64,
                                    decayRank: rank(1.8 * c.squareRoot()), iclrRank: rank(1.8 * c.squareRoot()),
                                    valueRank: rank(1.3 * c.squareRoot()), gateRank: rank(0.6 * pow(c, 0.8)), ffnSize: 4 * size.embedding,
                                    deepEmbedRank: deepEmbed ? 32 : 0)
    }

    /// Official sizes; `-de` adds RWKV-7a DeepEmbed (as rwkv7a-g1b-0.1b).
    public static let shapeNames = ["0.1b", "0.4b", "1.5b", "2.9b", "0.1b-de", "0.4b-de", "1.5b-de", "2.9b-de"]

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
