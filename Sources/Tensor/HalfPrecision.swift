/// IEEE binary16 and bfloat16 conversions of one value (rows convert in the C kernels: ``DType/encode(_:into:count:)``).
///
/// f32 → f16 rounds to nearest, ties to even; values of magnitude ≥ 65520 become ±inf, subnormals are kept
/// and NaN stays NaN. f32 → bf16 is ggml's and torch's rounding (NaN quieted, otherwise ties to even).
/// Both widenings are exact.
public enum HalfPrecision {
    /// The binary16 bits of `value`, rounded to nearest even.
    @inlinable public static func f16Bits(_ value: Float) -> UInt16 { Float16(value).bitPattern }

    /// The f32 value of binary16 bits.
    @inlinable public static func f32(fromF16 bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    /// The bfloat16 bits of `value`.
    @inlinable public static func bf16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// The f32 value of bfloat16 bits.
    @inlinable public static func f32(fromBF16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
}
