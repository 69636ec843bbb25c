import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Row-wise element-wise kernels: one unit is one row of `width` values.
enum ElementwiseKernels {
    static func run(_ task: KernelTask, rows: Range<Int>) {
        let c = task.width
        let out = task.output
        for t in rows {
            let o = out + t * c
            switch task.kind {
            case .add, .sub, .mul:
                let a = task.input(0) + t * c
                let b = task.input(1) + (task.broadcast ? 0 : t * c)
                switch task.kind {
                case .add: for i in 0..<c { o[i] = a[i] + b[i] }
                case .sub: for i in 0..<c { o[i] = a[i] - b[i] }
                default: for i in 0..<c { o[i] = a[i] * b[i] }
                }
            case .lerp:
                let a = task.input(0) + t * c, b = task.input(1) + t * c
                let m = task.input(2) + (task.broadcast ? 0 : t * c)
                for i in 0..<c { o[i] = a[i] + (b[i] - a[i]) * m[i] }
            case .shift:
                let source = t == 0 ? task.input(1) : task.input(0) + (t - 1) * c
                o.update(from: source, count: c)
            case .scale:
                let a = task.input(0) + t * c
                let f = task.parameter
                for i in 0..<c { o[i] = a[i] * f }
            case .unary:
                unary(task.function, task.input(0) + t * c, o, c)
            case .rows:
                o.update(from: task.input(0) + (task.size + t) * c, count: c)
            case .store:
                task.inputs[1].assumingMemoryBound(to: Float.self).advanced(by: t * c)
                    .update(from: task.input(0) + t * c, count: c)
            case .headDotScale:
                headDotScale(task, t)
            default:
                preconditionFailure("not an element-wise kernel")
            }
        }
    }

    @inline(__always) static func unary(_ f: UnaryFunction, _ x: UnsafeMutablePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int) {
        switch f {
        case .sigmoid: rwkv_sigmoid_f32(x, o, Int64(n))
        case .tanh: for i in 0..<n { o[i] = tanhf(x[i]) }
        case .exp: rwkv_exp_f32(x, o, Int64(n))
        case .negate: for i in 0..<n { o[i] = -x[i] }
        case .softplus: for i in 0..<n { o[i] = max(x[i], 0) + log1pf(expf(-abs(x[i]))) }
        case .reluSquared:
            for i in 0..<n {
                let r = max(x[i], 0)
                o[i] = r * r
            }
        }
    }

    /// Per head: `(Σ a·b·c) · v`.
    @inline(__always) static func headDotScale(_ task: KernelTask, _ t: Int) {
        let c = task.width, n = task.size
        let a = task.input(0) + t * c, b = task.input(1) + t * c
        let w = task.input(2) + (task.broadcast ? 0 : t * c)
        let v = task.input(3) + t * c
        let o = task.output + t * c
        for h in 0..<(c / n) {
            var s: Float = 0
            for j in (h * n)..<(h * n + n) { s += a[j] * b[j] * w[j] }
            for j in (h * n)..<(h * n + n) { o[j] = s * v[j] }
        }
    }

    /// Per token: `u [rows]` times the token's `rows × columns` matrix (one unit is one token).
    static func vectorTimesTokenMatrix(_ task: KernelTask, tokens: Range<Int>) {
        let rows = task.width, columns = task.size
        for t in tokens {
            let u = task.input(0) + t * rows, m = task.input(1) + t * rows * columns
            let o = task.output + t * columns
            o.update(repeating: 0, count: columns)
            for p in 0..<rows {
                let up = u[p], mp = m + p * columns
                for q in 0..<columns { o[q] += up * mp[q] }
            }
        }
    }

    /// Gathers rows of a table by id; returns false (writing zeros) for an id out of range.
    static func getRows(_ task: KernelTask, rows: Range<Int>) -> Bool {
        let c = task.width, tableRows = task.size
        let table = UnsafeRawPointer(task.inputs[0])
        let ids = UnsafeRawPointer(task.inputs[1]).assumingMemoryBound(to: Int32.self)
        let rowBytes = task.dtype.rowBytes(c)
        let decode = task.dtype.traits.dequantizeRow!
        var ok = true
        for t in rows {
            let id = Int(ids[t])
            let o = task.output + t * c
            guard id >= 0, id < tableRows else {
                o.update(repeating: 0, count: c)
                ok = false
                continue
            }
            decode(table + id * rowBytes, o, c)
        }
        return ok
    }
}
