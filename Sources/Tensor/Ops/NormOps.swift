import CKernels
import Foundation

// Normalisations over rows: LayerNorm, GroupNorm, per-head L2. Kernels: CKernels/kernels/norms.h.

extension Graph {
    public mutating func layerNorm(_ x: Value, weight: Value, bias: Value, eps: Float) throws -> Value {
        try requireF32("layer_norm", x, weight, bias)
        try requireVector("layer_norm", weight, length: shape(x)[0])
        try requireVector("layer_norm", bias, length: shape(x)[0])
        return record(.layerNorm(eps: eps), [x, weight, bias], .f32, shape(x))
    }

    public mutating func groupNorm(_ x: Value, weight: Value, bias: Value, groups: Int, eps: Float) throws -> Value {
        try requireF32("group_norm", x, weight, bias)
        let c = shape(x)[0]
        guard groups > 0, c % groups == 0 else { throw GraphError("group_norm: \(groups) groups do not divide rows of \(shape(x))") }
        try requireVector("group_norm", weight, length: c)
        try requireVector("group_norm", bias, length: c)
        return record(.groupNorm(groups: groups, eps: eps), [x, weight, bias], .f32, shape(x))
    }

    public mutating func l2NormalizeHeads(_ x: Value, headSize: Int, eps: Float) throws -> Value {
        try requireF32("l2_normalize_heads", x)
        guard headSize > 0, shape(x)[0] % headSize == 0 else {
            throw GraphError("l2_normalize_heads: head size \(headSize) does not divide rows of \(shape(x))")
        }
        return record(.l2NormalizeHeads(headSize: headSize, eps: eps), [x], .f32, shape(x))
    }
}

enum NormOps {
    /// LayerNorm is GroupNorm with one group.
    static func groupNorm(_ name: String, groups: Int, eps: Float) -> OpTraits {
        OpTraits(name: name, takesEpilogue: true,
                 lower: { $0.rowTask(\.group_norm) { $0.norm.groups = Int64(groups); $0.norm.eps = eps } },
                 reference: { e, node in
                     let x = e.input(node, 0), w = e.input(node, 1), b = e.input(node, 2), width = w.count
                     e.set(rowwise(x, width / groups) { normalized($0, eps) }.enumerated().map { $1 * w[$0 % width] + b[$0 % width] })
                 })
    }

    static func l2NormalizeHeads(headSize: Int, eps: Float) -> OpTraits {
        OpTraits(name: "l2_normalize_heads", takesEpilogue: true,
                 lower: { $0.rowTask(\.l2_normalize) { $0.norm.head_size = Int64(headSize); $0.norm.eps = eps } },
                 reference: { e, node in
                     e.set(rowwise(e.input(node, 0), headSize) { head in
                         let norm = sqrt(head.reduce(0) { $0 + $1 * $1 })
                         return head.map { $0 / max(norm, eps) }
                     })
                 })
    }

    static func rowwise(_ x: [Float], _ n: Int, _ f: ([Float]) -> [Float]) -> [Float] {
        stride(from: 0, to: x.count, by: n).flatMap { f(Array(x[$0..<($0 + n)])) }
    }

    static func normalized(_ u: [Float], _ eps: Float) -> [Float] {
        let mean = u.reduce(0, +) / Float(u.count)
        let variance = u.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(u.count)
        return u.map { ($0 - mean) / sqrt(variance + eps) }
    }
}
