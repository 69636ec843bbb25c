import CBLAS
import CKernels

/// The vectorised Q8_0 activation quantizer (bit-identical to ``BlockQuantization/quantizeQ8_0(_:_:count:)``).
public func rwkvQuantizeQ8_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, count: Int) {
    rwkv_quantize_row_q8_0(x, out, Int64(count))
}

/// The instruction set of the int8 kernels: `avx512vnni`, `avx2` or `scalar`.
public var int8KernelISA: String { String(cString: rwkv_kernels_isa()) }

/// `out[m, t] = Σ_k W[k, m] · x[k, t]`. A unit is a block of output rows m (weight rows), all tokens.
enum MatmulKernels {
    /// Our team provides the threads; OpenBLAS must not start its own inside each call.
    private static let singleThreadedBLAS: Void = openblas_set_num_threads(1)

    static func useSingleThreadedBLAS() { _ = singleThreadedBLAS }

    /// Rows of the weight covered by `units`.
    @inline(__always) static func rowRange(_ task: KernelTask, _ units: Range<Int>, rowsPerUnit: Int) -> Range<Int> {
        (units.lowerBound * rowsPerUnit)..<min(task.outWidth, units.upperBound * rowsPerUnit)
    }

    /// F32 weights: a C matvec for one token (8 accumulators, loads in address order: 5–15 % more read
    /// bandwidth than 16-lane Swift SIMD on Zen 4), a BLAS GEMM per fixed row block for several.
    static func f32(_ task: KernelTask, units: Range<Int>) {
        let k = task.width, m = task.outWidth, tokens = task.rows
        let w = UnsafePointer(task.input(0)), x = UnsafePointer(task.input(1))
        let out = task.output
        if tokens == 1 {
            let rows = rowRange(task, units, rowsPerUnit: task.matmulRowsPerUnit)
            rwkv_matvec_f32(w, x, out, Int64(k), Int64(rows.lowerBound), Int64(rows.upperBound))
            return
        }
        // One GEMM call per unit, whatever the thread count, so every element is summed the same way.
        for unit in units {
            let rows = rowRange(task, unit..<(unit + 1), rowsPerUnit: task.matmulRowsPerUnit)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                        Int32(tokens), Int32(rows.count), Int32(k),
                        1, x, Int32(k), w + rows.lowerBound * k, Int32(k),
                        0, out + rows.lowerBound, Int32(m))
        }
    }

    /// F16 weights with f32 activations: 4-row × 4-token tiles (C, F16C + FMA).
    static func f16(_ task: KernelTask, units: Range<Int>) {
        let rows = rowRange(task, units, rowsPerUnit: KernelTask.matvecRowsPerUnit)
        rwkv_matmul_f16(UnsafeRawPointer(task.inputs[0]).assumingMemoryBound(to: UInt16.self), task.input(1), task.output,
                        Int64(task.width), Int64(task.outWidth), Int64(task.rows), Int64(rows.lowerBound), Int64(rows.upperBound))
    }

    /// Q8_0 / Q4_0 weights against Q8_0 activations: int8 dot products (AVX-512 VNNI or AVX2) in 4 × 4 tiles;
    /// their 8-row interleaved forms against Q8_0s activations, 8 rows per instruction.
    static func quantized(_ task: KernelTask, units: Range<Int>) {
        let rows = rowRange(task, units, rowsPerUnit: KernelTask.matvecRowsPerUnit)
        let kernel = switch task.dtype {
        case .q8_0r8: rwkv_matmul_q8_0r8
        case .q4_0r8: rwkv_matmul_q4_0r8
        case .q8_0: rwkv_matmul_q8_0
        default: rwkv_matmul_q4_0
        }
        kernel(UnsafeRawPointer(task.inputs[0]), UnsafeRawPointer(task.inputs[1]), task.output,
               Int64(task.width), Int64(task.outWidth), Int64(task.rows), Int64(rows.lowerBound), Int64(rows.upperBound))
    }

    /// Any other weight type, through its table vec-dot against activations already converted to
    /// the type's activation encoding.
    static func blocks(_ task: KernelTask, units: Range<Int>) {
        let k = task.width, m = task.outWidth
        let traits = task.dtype.traits
        let dot = traits.vecDot!
        let weightRowBytes = task.dtype.rowBytes(k)
        let activationRowBytes = traits.activationType.rowBytes(k)
        let w = UnsafeRawPointer(task.inputs[0]), x = UnsafeRawPointer(task.inputs[1])
        for row in rowRange(task, units, rowsPerUnit: KernelTask.matvecRowsPerUnit) {
            for t in 0..<task.rows {
                task.output[t * m + row] = dot(w + row * weightRowBytes, x + t * activationRowBytes, k)
            }
        }
    }

    /// Converts f32 rows (one unit each) to `task.dtype`.
    static func convertRows(_ task: KernelTask, rows: Range<Int>) {
        let k = task.width
        let rowBytes = task.dtype.rowBytes(k)
        switch task.dtype {
        case .q8_0:
            for t in rows { rwkv_quantize_row_q8_0(task.input(0) + t * k, task.out + t * rowBytes, Int64(k)) }
            return
        case .q8_0s:
            for t in rows { rwkv_quantize_row_q8_0s(task.input(0) + t * k, task.out + t * rowBytes, Int64(k)) }
            return
        default: break
        }
        let encode = task.dtype.traits.quantizeRow!
        for t in rows { encode(task.input(0) + t * k, task.out + t * rowBytes, k) }
    }
}
