/// The RWKV-7 WKV recurrence. Per head h and value row i (S is `[N, N, H]`, row i = value channel,
/// column j = key channel), for each token in order:
///
///     sa = Σ_j S[i][j]·a[j];  S[i][j] = S[i][j]·w[j] + sa·b[j] + v[i]·k[j];  y[i] = Σ_j S[i][j]·r[j]
///
/// Rows are independent, so a unit is a block of rows of one head, run over all T tokens with the row
/// kept in registers.
enum WKV7Kernel {
    static func run(_ task: KernelTask, units: Range<Int>) {
        let n = task.size, c = task.width
        let blocksPerHead = (n + KernelTask.wkvRowsPerUnit - 1) / KernelTask.wkvRowsPerUnit
        let state = task.input(6)
        for unit in units {
            let h = unit / blocksPerHead
            let first = (unit % blocksPerHead) * KernelTask.wkvRowsPerUnit
            let last = min(n, first + KernelTask.wkvRowsPerUnit)
            for i in first..<last {
                let row = state + h * n * n + i * n
                if n == 64 {
                    row64(task, row: row, head: h, i: i, c: c)
                } else {
                    rowGeneric(task, row: row, head: h, i: i, n: n, c: c)
                }
            }
        }
    }

    @inline(__always) static func row64(_ task: KernelTask, row: UnsafeMutablePointer<Float>, head h: Int, i: Int, c: Int) {
        typealias V = SIMD16<Float>
        var s0 = SIMDMath.load(row), s1 = SIMDMath.load(row + 16), s2 = SIMDMath.load(row + 32), s3 = SIMDMath.load(row + 48)
        let r = task.input(0), w = task.input(1), k = task.input(2), v = task.input(3), a = task.input(4), b = task.input(5)
        let y = task.output
        for t in 0..<task.rows {
            let base = t * c + h * 64
            @inline(__always) func ld(_ p: UnsafeMutablePointer<Float>, _ o: Int) -> V { SIMDMath.load(p + base + o) }
            var dotA = s0 * ld(a, 0)
            dotA.addProduct(s1, ld(a, 16))
            dotA.addProduct(s2, ld(a, 32))
            dotA.addProduct(s3, ld(a, 48))
            let sa = V(repeating: SIMDMath.horizontalSum(dotA))
            let vi = V(repeating: v[base + i])
            s0 = s0 * ld(w, 0) + sa * ld(b, 0) + vi * ld(k, 0)
            s1 = s1 * ld(w, 16) + sa * ld(b, 16) + vi * ld(k, 16)
            s2 = s2 * ld(w, 32) + sa * ld(b, 32) + vi * ld(k, 32)
            s3 = s3 * ld(w, 48) + sa * ld(b, 48) + vi * ld(k, 48)
            var dotR = s0 * ld(r, 0)
            dotR.addProduct(s1, ld(r, 16))
            dotR.addProduct(s2, ld(r, 32))
            dotR.addProduct(s3, ld(r, 48))
            y[base + i] = SIMDMath.horizontalSum(dotR)
        }
        SIMDMath.store(s0, row)
        SIMDMath.store(s1, row + 16)
        SIMDMath.store(s2, row + 32)
        SIMDMath.store(s3, row + 48)
    }

    @inline(__always) static func rowGeneric(_ task: KernelTask, row: UnsafeMutablePointer<Float>, head h: Int, i: Int, n: Int, c: Int) {
        let r = task.input(0), w = task.input(1), k = task.input(2), v = task.input(3), a = task.input(4), b = task.input(5)
        for t in 0..<task.rows {
            let base = t * c + h * n
            var sa: Float = 0
            for j in 0..<n { sa += row[j] * a[base + j] }
            var y: Float = 0
            let vi = v[base + i]
            for j in 0..<n {
                row[j] = row[j] * w[base + j] + sa * b[base + j] + vi * k[base + j]
                y += row[j] * r[base + j]
            }
            task.output[base + i] = y
        }
    }
}
