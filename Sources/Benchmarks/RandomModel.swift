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

    /// Bytes the model will occupy at `type` (what `make` allocates).
    public static func bytes(_ h: RWKV7Hyperparameters, type: DType) -> Int {
        h.expectedShapes().reduce(0) { total, entry in
            let shape = Shape(entry.dims)
            let dtype = dtypeFor(entry.name, shape, type)
            return total + dtype.rowBytes(shape.rowLength) * shape.rowCount
        }
    }

    /// The type each tensor has in a file `rwkv convert --type T` writes (llama.cpp's choices): vectors, norms,
    /// w1/w2 and the fused mixes F32; the quantizable matrices T (a Q4_0 head Q8_0); the other LoRAs F16 (F32
    /// for T = f32); DeepEmbed tables F16, as released.
    static func dtypeFor(_ name: String, _ shape: Shape, _ type: DType) -> DType {
        if name.hasSuffix("channel_mix_s_emb.weight") { return .f16 }
        if RWKV7Names.isForcedF32(name, shape: shape) { return .f32 }
        if RWKV7Names.isQuantizable(name) { return RWKV7Conversion.blockType(name, shape: shape, type) }
        return type == .f32 ? .f32 : .f16
    }

    /// A model of shape `h` at `type`, each tensor of the type ``dtypeFor(_:_:_:)`` gives.
    public static func make(_ h: RWKV7Hyperparameters, type: DType, seed: UInt64 = 42) throws -> RWKV7Weights {
        var generator = SeededGenerator(seed: seed)
        var tensors: [String: Tensor] = [:]
        for (name, dims) in h.expectedShapes() {
            let shape = Shape(dims)
            let dtype = dtypeFor(name, shape, type)
            let (low, high) = range(name, h)
            let tensor = try Tensor(zeros: dtype, shape)
            let n = shape.rowLength
            var row = [Float](repeating: 0, count: n)
            tensor.withUnsafeMutableBytes { raw in
                for r in 0..<shape.rowCount {
                    for i in 0..<n { row[i] = low + (high - low) * (generator.nextSigned() * 0.5 + 0.5) }
                    row.withUnsafeBufferPointer { dtype.encode($0.baseAddress!, into: raw.baseAddress! + r * tensor.rowBytes, count: n) }
                }
            }
            tensors[name] = tensor
        }
        return try RWKV7Weights(hyperparameters: h, tensors: tensors, name: "random \(type)")
    }

    /// Value ranges that keep activations realistic (like tools/tiny_rwkv7.py).
    static func range(_ name: String, _ h: RWKV7Hyperparameters) -> (Float, Float) {
        let c = Float(h.embedding), f = Float(h.ffnSize)
        let projection = 1.7 / c.squareRoot()
        switch true {
        case name.hasSuffix("norm.weight"), name.hasSuffix("time_mix_ln.weight"): return (0.8, 1.2)
        case name.hasSuffix(".bias"): return (-0.1, 0.1)
        case name.hasSuffix("lerp_fused.weight"), name.hasSuffix("lerp_k.weight"): return (0, 1)
        case name.hasSuffix("time_mix_w0.weight"): return (-3, 0.5)
        case name.hasSuffix("time_mix_k_k.weight"): return (0.5, 1)
        case name.hasSuffix("time_mix_k_a.weight"): return (0.5, 1.5)
        case name.hasSuffix("a0.weight"), name.hasSuffix("v0.weight"): return (-0.5, 0.5)
        case name.hasSuffix("r_k.weight"): return (-0.5, 0.5)
        case name.hasSuffix("s0.weight"): return (0.9, 1.1)
        case name.hasSuffix("s_emb.weight"): return (-0.5, 0.5)
        case name.hasSuffix("s_emb_x.weight"): return (-0.05, 0.05)
        case name == "token_embd.weight": return (-1, 1)
        case name.contains("channel_mix_value"): return (-0.87 / f.squareRoot(), 0.87 / f.squareRoot())
        case name.hasSuffix("1.weight"), name.hasSuffix("2.weight"): return (-0.17, 0.17)
        default: return (-projection, projection)
        }
    }
}
