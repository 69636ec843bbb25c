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

    /// The traits of this type.
    @inlinable public var traits: DTypeTraits { DTypeTraits.table[rawValue] }

    /// The lower-case name used on the command line and in tables (`f32`, `q8_0`, …).
    public var description: String { traits.name }

    /// Parses a command-line name such as `q4_0` (case-insensitive).
    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.traits.name == name.lowercased() }) else { return nil }
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

    /// Whether this is a block-quantized type.
    @inlinable public var isQuantized: Bool { traits.blockSize > 1 }
}
