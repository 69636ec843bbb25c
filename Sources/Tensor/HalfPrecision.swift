/// IEEE binary16 and bfloat16 conversions, one value or one row at a time.
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

    /// Converts `count` floats to binary16.
    public static func f32ToF16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let lanes = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self)
            let halves = SIMD8<Float16>(lanes)
            UnsafeMutableRawPointer(destination + i).storeBytes(of: halves, as: SIMD8<Float16>.self)
            i += 8
        }
        while i < count { destination[i] = f16Bits(source[i]); i += 1 }
    }

    /// Converts `count` binary16 values to floats.
    public static func f16ToF32(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let halves = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float16>.self)
            UnsafeMutableRawPointer(destination + i).storeBytes(of: SIMD8<Float>(halves), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { destination[i] = f32(fromF16: source[i]); i += 1 }
    }

    /// Converts `count` floats to bfloat16.
    public static func f32ToBF16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { destination[i] = bf16Bits(source[i]) }
    }

    /// Converts `count` bfloat16 values to floats.
    public static func bf16ToF32(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { destination[i] = f32(fromBF16: source[i]) }
    }
}
