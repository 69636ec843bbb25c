import CKernels

/// The RWKV-7 WKV recurrence. Per head h and value row i (S is `[N, N, H]`, row i = value channel,
/// column j = key channel), for each token in order:
///
///     sa = Σ_j S[i][j]·a[j];  S[i][j] = S[i][j]·w[j] + sa·b[j] + v[i]·k[j];  y[i] = Σ_j S[i][j]·r[j]
///
/// Rows are independent, so a unit is a block of rows of one head, run over all T tokens. Head size 64
/// (every released model) runs the C kernel: for prefill a whole head per unit on a transposed state block,
/// for decode four rows at a time with their state in registers; other head sizes a scalar loop.
enum WKV7Kernel {
    static func run(_ task: KernelTask, units: Range<Int>) {
        let n = task.size, c = task.width
        let perUnit = KernelTask.wkvRowsPerUnit(headSize: n, tokens: task.rows)
        let blocksPerHead = (n + perUnit - 1) / perUnit
        let state = task.input(6)
        for unit in units {
            let h = unit / blocksPerHead
            let first = (unit % blocksPerHead) * perUnit
            let last = min(n, first + perUnit)
            if n == 64 {
                let o = h * 64
                rwkv_wkv7_head64(task.input(0) + o, task.input(1) + o, task.input(2) + o, task.input(3) + o,
                                 task.input(4) + o, task.input(5) + o, state + h * 64 * 64, task.output + o,
                                 Int64(c), Int64(task.rows), Int64(first), Int64(last))
                continue
            }
            for i in first..<last {
                let row = state + h * n * n + i * n
                rowGeneric(task, row: row, head: h, i: i, n: n, c: c)
            }
        }
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
