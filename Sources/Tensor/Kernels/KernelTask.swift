/// A graph node lowered for execution: plain values and raw pointers only, so the run loop does no
/// reference counting, no dynamic dispatch and no allocation.
///
/// Work is cut into units that do not depend on the thread count (rows, row blocks, heads); every
/// output element is computed by exactly one unit in a fixed order, so results are identical for any
/// number of threads.
struct KernelTask {
    enum Kind {
        case matmulF32, matmulF16, matmulQuantized, matmulBlocks, convertRows
        case add, sub, mul, lerp, shift, unary, scale
        case layerNorm, groupNorm, l2NormalizeHeads, headDotScale, vectorTimesTokenMatrix
        case getRows, rows, wkv7, store
    }

    var kind: Kind
    var function: UnaryFunction = .sigmoid
    /// Weight, table or conversion type.
    var dtype: DType = .f32
    var out: UnsafeMutableRawPointer
    /// Input pointers, in the node's input order (patched when slots are bound).
    var inputs: UnsafeMutablePointer<UnsafeMutableRawPointer>
    /// Row length of the (first) input: C, or K for a matmul.
    var width: Int
    /// Rows of the input: T.
    var rows: Int
    /// Output row length of a matmul (M).
    var outWidth: Int = 0
    /// Whether the second operand (third for lerp) is one `[C]` row applied to every row.
    var broadcast = false
    /// eps or scale factor.
    var parameter: Float = 0
    /// Group count, head size, first row, or table row count, by kind.
    var size: Int = 0
    /// Work units and the estimated cost of one.
    var unitCount: Int
    var unitCost: Double
    /// Element-wise steps applied in place to the output each unit wrote (see ``EpilogueKernels``).
    var epilogue: UnsafePointer<EpilogueStep>?
    var epilogueCount = 0

    /// Rows per unit of a T = 1 matmul and of the per-row vec-dot path.
    static let matvecRowsPerUnit = 16
    /// Rows per unit of a BLAS GEMM (T > 1).
    static let gemmRowsPerUnit = 64
    /// Value rows per WKV unit.
    static let wkvRowsPerUnit = 16

    /// Weight rows per unit of a matmul task: a BLAS GEMM block for f32 weights and several tokens, else
    /// a matvec block.
    var matmulRowsPerUnit: Int { kind == .matmulF32 && rows > 1 ? Self.gemmRowsPerUnit : Self.matvecRowsPerUnit }

    /// WKV rows per unit: a whole head of 64 for prefill (the transposed kernel), else ``wkvRowsPerUnit``.
    static func wkvRowsPerUnit(headSize: Int, tokens: Int) -> Int { headSize == 64 && tokens >= 4 ? 64 : wkvRowsPerUnit }

    @inline(__always) func input(_ i: Int) -> UnsafeMutablePointer<Float> {
        inputs[i].assumingMemoryBound(to: Float.self)
    }

    @inline(__always) var output: UnsafeMutablePointer<Float> { out.assumingMemoryBound(to: Float.self) }
}
