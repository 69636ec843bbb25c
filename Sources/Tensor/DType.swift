/// Element types of tensors, in ggml's block layouts.
///
/// Every per-type fact (GGUF id, block geometry, conversions, vec-dot) lives in one table,
/// ``DTypeTraits``; code that needs such a fact asks `dtype.traits` instead of switching on the type.
public enum DType: Int, CaseIterable, Sendable, CustomStringConvertible {
    case f32
    case f16
    /// Storage only: read from checkpoints, converted before use.
    case bf16
    case q8_0
    case q4_0
    /// Token ids.
    case i32
    /// In memory only: Q8_0 / Q4_0 weights with 8 rows interleaved block by block, the layout the int8
    /// matmul kernels read fastest (``Tensor/interleavedForMatmul()``). Never read from or written to files.
    case q8_0r8
    case q4_0r8
    /// In memory only: the activations of r8 matmuls, Q8_0 values with an f32 scale and each block's quant sum.
    case q8_0s
    /// The other block types of GGUF files: blocks of 32 …
    case q4_1, q5_0, q5_1, iq4_nl
    /// … and the K-quants, super-blocks of 256.
    case q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs
    /// In memory only: the activations of the K-quant matmuls (256 int8 quants, an f32 scale, sums of 16).
    case q8_K
    /// In memory only: Q4_K / Q6_K / Q5_K weights with 8 rows interleaved super-block by super-block (as ``q4_0r8``).
    case q4_Kr8, q6_Kr8, q5_Kr8
    /// In memory only: Q4_1 / Q5_0 / Q5_1 weights with 8 rows interleaved block by block (as ``q4_0r8``).
    case q4_1r8, q5_0r8, q5_1r8
    /// In memory only: Q3_K / Q2_K weights with 8 rows interleaved super-block by super-block (as ``q4_Kr8``).
    case q3_Kr8, q2_Kr8
    /// In memory only: IQ4_NL weights with 8 rows interleaved block by block (as ``q4_0r8``), and IQ4_XS
    /// super-block by super-block (as ``q4_Kr8``).
    case iq4_nlr8, iq4_xsr8

    /// The traits of this type.
    @inlinable public var traits: DTypeTraits { DTypeTraits.table[rawValue] }

    /// The lower-case name used on the command line and in tables (`f32`, `q8_0`, …).
    public var description: String { traits.name }

    /// Parses a command-line name such as `q4_0` (case-insensitive); in-memory layouts are not accepted.
    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.traits.name.lowercased() == name.lowercased() && $0.isFileType }) else { return nil }
        self = match
    }

    /// The type with this GGUF (`ggml_type`) id, if we support it.
    public init?(ggufTypeID: UInt32) {
        guard let match = DType.allCases.first(where: { $0.traits.ggufTypeID == ggufTypeID }) else { return nil }
        self = match
    }

    /// Elements per block (1 for plain types, 32 for Q8_0/Q4_0).
    @inlinable public var blockSize: Int { traits.blockSize }

    /// Bytes per block.
    @inlinable public var bytesPerBlock: Int { traits.bytesPerBlock }

    /// Bytes of a row of `count` elements; `count` must be a multiple of ``blockSize``.
    @inlinable public func rowBytes(_ count: Int) -> Int { count / traits.blockSize * traits.bytesPerBlock }

    /// Whether tensors of this type can be read from and written to model files (it has a GGUF id).
    @inlinable public var isFileType: Bool { traits.ggufTypeID != nil }

    /// For the row-interleaved in-memory layouts, the file type they hold (nil otherwise).
    @inlinable public var interleavedFrom: DType? { traits.interleavedFrom }

    /// The row-interleaved layout that holds matrices of this type, if there is one.
    public var interleavedLayout: DType? { DType.allCases.first { $0.interleavedFrom == self } }

    /// Whether `--type` and `rwkv quantize` can produce this type: a file type with an encoder and a matmul.
    public var isProducible: Bool { isFileType && traits.fromFloat != nil && traits.matmul != nil }

    /// The types `--type` and `rwkv quantize` take, in table order.
    public static var producible: [DType] { allCases.filter(\.isProducible) }

    /// The file types this build reads (and runs).
    public static var readable: [DType] { allCases.filter { $0.isFileType && $0 != .i32 } }

    /// Whether this is a block-quantized type.
    @inlinable public var isQuantized: Bool { traits.blockSize > 1 }

    /// The type a matrix with rows of `columns` values gets when this one is asked for (llama-quantize's
    /// rule): this type when its blocks fit the rows, else its ``DTypeTraits/fallback`` when that fits, else F16.
    public func fitting(columns: Int) -> DType {
        guard columns % blockSize != 0 else { return self }
        if let fallback = traits.fallback, columns % fallback.blockSize == 0 { return fallback }
        return .f16
    }
}
