/// ggml's reference quantizers and dequantizers for Q8_0 and Q4_0, bit-identical to
/// `quantize_row_q8_0_ref` / `quantize_row_q4_0_ref` (and gguf-py's `gguf.quants`).
///
/// Blocks of 32 values: Q8_0 is `f16 d; i8 qs[32]` (34 bytes); Q4_0 is `f16 d; u8 qs[16]` (18 bytes),
/// low nibbles holding elements 0…15 and high nibbles elements 16…31. All arithmetic is f32.
public enum BlockQuantization {
    /// Elements per block for both formats.
    public static let blockSize = 32
    /// Bytes of one Q8_0 block.
    public static let q8_0BlockBytes = 34
    /// Bytes of one Q4_0 block.
    public static let q4_0BlockBytes = 18

    /// Quantizes `count` floats (a multiple of 32) to Q8_0 blocks.
    public static func quantizeQ8_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, count: Int) {
        for block in 0..<(count / blockSize) {
            let values = x + block * blockSize
            let dst = out + block * q8_0BlockBytes
            var amax: Float = 0
            for j in 0..<blockSize { amax = max(amax, abs(values[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            dst.storeBytes(of: HalfPrecision.f16Bits(d).littleEndian, as: UInt16.self)
            let qs = (dst + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<blockSize { qs[j] = roundedInt8(values[j] * id) }
        }
    }

    /// Quantizes `count` floats (a multiple of 32) to Q4_0 blocks.
    public static func quantizeQ4_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, count: Int) {
        for block in 0..<(count / blockSize) {
            let values = x + block * blockSize
            let dst = out + block * q4_0BlockBytes
            var amax: Float = 0
            var extreme: Float = 0
            for j in 0..<blockSize where abs(values[j]) > amax {
                amax = abs(values[j])
                extreme = values[j]
            }
            let d = extreme / -8
            let id: Float = d != 0 ? 1 / d : 0
            dst.storeBytes(of: HalfPrecision.f16Bits(d).littleEndian, as: UInt16.self)
            let qs = (dst + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let lo = min(15, truncatedNibble(values[j] * id + 8.5))
                let hi = min(15, truncatedNibble(values[j + 16] * id + 8.5))
                qs[j] = lo | (hi << 4)
            }
        }
    }

    /// `roundf(v)` as an int8 (ties away from zero); non-finite values, which ggml leaves undefined, give 0.
    @inline(__always) static func roundedInt8(_ v: Float) -> Int8 {
        guard v.isFinite else { return 0 }
        return Int8(max(-128, min(127, v.rounded(.toNearestOrAwayFromZero))))
    }

    /// C's `(int8_t)(v)` for the range the Q4_0 quantizer produces (about 0.5 … 16.5).
    @inline(__always) static func truncatedNibble(_ v: Float) -> UInt8 {
        UInt8(truncatingIfNeeded: Int32(v.isFinite ? v.rounded(.towardZero) : 0))
    }

    /// The f32 scale of a block whose f16 `d` starts at `block`.
    @inline(__always) public static func scale(_ block: UnsafeRawPointer) -> Float {
        HalfPrecision.f32(fromF16: UInt16(littleEndian: block.loadUnaligned(as: UInt16.self)))
    }

    /// Dequantizes `count` values (a multiple of 32) from Q8_0 blocks.
    public static func dequantizeQ8_0(_ blocks: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for block in 0..<(count / blockSize) {
            let src = blocks + block * q8_0BlockBytes
            let d = scale(src)
            let qs = (src + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<blockSize { y[block * blockSize + j] = Float(qs[j]) * d }
        }
    }

    /// Dequantizes `count` values (a multiple of 32) from Q8_0s blocks (f32 scale, int32 sum, 32 quants).
    public static func dequantizeQ8_0s(_ blocks: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for block in 0..<(count / blockSize) {
            let src = blocks + block * 40
            let d = src.loadUnaligned(as: Float.self)
            let qs = (src + 8).assumingMemoryBound(to: Int8.self)
            for j in 0..<blockSize { y[block * blockSize + j] = Float(qs[j]) * d }
        }
    }

    /// Dequantizes `count` values (a multiple of 32) from Q4_0 blocks.
    public static func dequantizeQ4_0(_ blocks: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for block in 0..<(count / blockSize) {
            let src = blocks + block * q4_0BlockBytes
            let d = scale(src)
            let qs = (src + 2).assumingMemoryBound(to: UInt8.self)
            let out = y + block * blockSize
            for j in 0..<16 {
                out[j] = Float(Int(qs[j] & 0x0F) - 8) * d
                out[j + 16] = Float(Int(qs[j] >> 4) - 8) * d
            }
        }
    }
}
