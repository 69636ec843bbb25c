/// Normalisations over rows: one unit is one row.
enum NormKernels {
    static func run(_ task: KernelTask, rows: Range<Int>) {
        let c = task.width
        for t in rows {
            let x = task.input(0) + t * c
            let o = task.output + t * c
            switch task.kind {
            case .layerNorm:
                normalize(x, o, c, eps: task.parameter, weight: task.input(1), bias: task.input(2))
            case .groupNorm:
                let n = c / task.size
                for g in 0..<task.size {
                    normalize(x + g * n, o + g * n, n, eps: task.parameter, weight: task.input(1) + g * n, bias: task.input(2) + g * n)
                }
            case .l2NormalizeHeads:
                let n = task.size
                for h in 0..<(c / n) {
                    let u = x + h * n
                    let norm = SIMDMath.dot(u, u, n).squareRoot()
                    let inverse = 1 / max(norm, task.parameter)
                    for j in 0..<n { o[h * n + j] = u[j] * inverse }
                }
            default:
                preconditionFailure("not a norm kernel")
            }
        }
    }

    /// `(x − mean) / √(var + eps) ⊙ w + b` over `n` values, biased variance, two passes.
    @inline(__always) static func normalize(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int,
                                            eps: Float, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
        let mean = SIMDMath.sum(x, n) / Float(n)
        let variance = SIMDMath.sumSquaredDeviations(x, n, mean: mean) / Float(n)
        let inverse = 1 / (variance + eps).squareRoot()
        for i in 0..<n { o[i] = (x[i] - mean) * inverse * weight[i] + bias[i] }
    }
}
