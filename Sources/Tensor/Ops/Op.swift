import CKernels

/// Element-wise functions of one input.
public enum UnaryFunction: String, Sendable, CaseIterable {
    case sigmoid, tanh, exp, negate
    /// `log(1 + e^x)`, computed without overflow.
    case softplus
    /// `max(x, 0)²`.
    case reluSquared

    /// The kernels' code for this function (`RWKV_UNARY_*`).
    var kernelCode: Int32 {
        switch self {
        case .sigmoid: Int32(RWKV_UNARY_SIGMOID)
        case .tanh: Int32(RWKV_UNARY_TANH)
        case .exp: Int32(RWKV_UNARY_EXP)
        case .negate: Int32(RWKV_UNARY_NEGATE)
        case .softplus: Int32(RWKV_UNARY_SOFTPLUS)
        case .reluSquared: Int32(RWKV_UNARY_RELU_SQUARED)
        }
    }
}

/// The closed set of graph operations. Everything known about each op — its graph constructor and shape
/// checks, whether it folds into a producer, its lowering to a C kernel and its reference evaluation —
/// lives in its row of the op table (``OpTraits``, `Ops/*.swift`).
///
/// Shapes use ggml's order: `[ne0, ne1]` = `[row length, rows]`; activations are `[C, T]` (C channels,
/// T tokens). "Row-broadcast" inputs are `[C]` vectors applied to every row, or full `[C, T]` tensors.
public enum Op: Sendable {
    /// An input bound at execution (a token-id row, an activation, a state buffer).
    case slot(index: Int)
    /// A constant tensor (a weight); never copied.
    case weight(Tensor)
    /// `out[m, t] = Σ_k W[k, m] · x[k, t]` for W `[K, M]` of any weight dtype, x `[K, T]` in its activation type.
    /// `sequences` > 1: the T columns are that many sequences of T/S tokens each (one token in a batched
    /// decode), each multiplied exactly as it would be alone.
    case matmul(sequences: Int)
    /// Converts f32 rows to another encoding (inserted before a matmul whose weights need it).
    case convertRows(DType)
    case add, sub, mul
    /// `a + (b − a) ⊙ t`.
    case lerp
    /// Token shift: row 0 of the result is `previous` (`[C]`), row t is row t−1 of `x`. With S `sequences`
    /// the rows of `x` are S sequences of T/S rows, and `previous` `[C, S]` holds each one's row before its first.
    case shift(sequences: Int)
    /// Per-row LayerNorm with weight and bias `[C]`: `(u − mean)/√(var + eps) ⊙ w + b` (biased variance).
    case layerNorm(eps: Float)
    /// GroupNorm over `groups` equal runs of each row, then the per-channel affine `[C]` weight and bias.
    case groupNorm(groups: Int, eps: Float)
    case unary(UnaryFunction)
    /// `x · factor`.
    case scale(Float)
    /// Each run of `headSize` values divided by `max(‖run‖₂, eps)`.
    case l2NormalizeHeads(headSize: Int, eps: Float)
    /// Gathers rows of a table `[C, V]` (any dtype) by i32 ids `[T]`, as f32 `[C, T]`.
    case getRows
    /// Rows `start ..< start + count` of `x` (of each of S `sequences` of T/S rows, one after another).
    case rows(start: Int, count: Int, sequences: Int)
    /// Copies its input into a state slot (after every earlier reader of that slot).
    case store(slot: Int)
    // The RWKV group (`Ops/RWKVOps.swift`).
    /// Per head, `Σ_n a[n] ⊙ b[n] ⊙ c[n]` times `v` (the RWKV-7 bonus): inputs a, b, c (row-broadcast) and v.
    case headDotScale(headSize: Int)
    /// Per token t: a `[rows]` vector times that token's own `rows × columns` matrix (row-major in a
    /// `[rows·columns, T]` input): `out[q, t] = Σ_p u[p, t] · m[p·columns + q, t]` (RWKV-7a DeepEmbed).
    case vectorTimesTokenMatrix(rows: Int, columns: Int)
    /// The RWKV-7 WKV recurrence over T tokens of S sequences (each T/S consecutive columns): inputs r, w
    /// (decay), k, v, a, b `[C, T]` and a state slot `[N, N, H]` (`[N, N, H, S]`) that is read and updated in
    /// place; output y `[C, T]`.
    case wkv7(headSize: Int, sequences: Int)
    // The attention group (`Ops/AttentionOps.swift`).
    /// Causal scores of queries `[D, T]` over a key cache slot `[D, capacity]` holding P rows and the T new
    /// keys `[D, T]` (appended to the cache): `[capacity, T]`, `softCap · tanh(scale · q·k)` where row t may
    /// see key p ≤ P + t, −inf elsewhere. P is an i32 `[1]` input read at run time. With S `sequences`, the
    /// columns are S sequences of T/S tokens, each with its own cache (`[D, capacity, S]`) and position (`[S]`).
    case attentionScores(softCap: Float, scale: Float, sequences: Int)
    /// Each row's softmax (−inf entries give exactly 0).
    case softmaxRows
    /// Probabilities `[capacity, T]` times the value cache slot `[C, capacity]` with the T new values `[C, T]`
    /// appended: `[C, T]` (per sequence, as ``attentionScores(softCap:scale:sequences:)``).
    case attentionMix(sequences: Int)

    /// A short name for errors and profiles.
    public var name: String {
        switch self {
        case .slot: "slot"
        case .weight: "weight"
        default: traits!.name
        }
    }

    /// Whether the executor computes this node (slots and weights are leaves).
    var isComputed: Bool {
        switch self {
        case .slot, .weight: false
        default: true
        }
    }
}
