import Foundation
import Tensor
import Testing

/// Our quantizers and half-precision conversions against gguf-py's reference output
/// (fixtures from tools/gen_quant_fixtures.py), byte for byte.
extension TensorTestSuite {
    struct QuantizationTests {
        func encode(_ type: DType, _ values: [Float]) throws -> [UInt8] {
            let tensor = try Tensor(values, shape: Shape(values.count))
            return try tensor.converted(to: type).bytes
        }

        @Test(arguments: [DType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1])
        func blockQuantizerMatchesGGUF(_ type: DType) throws {
            let input = try Fixtures.floats("quant/blocks.f32")
            let expected = Array(try Fixtures.data("quant/\(type).bin"))
            let got = try encode(type, input)
            #expect(got.count == expected.count)
            let blockBytes = type.bytesPerBlock
            let firstBad = (0..<(input.count / 32)).first { b in
                got[(b * blockBytes)..<((b + 1) * blockBytes)] != expected[(b * blockBytes)..<((b + 1) * blockBytes)]
            }
            #expect(firstBad == nil, "\(type) block \(firstBad ?? -1) differs from gguf-py")
        }

        /// The K-quant quantizers against ggml's own (`ggml_quantize_chunk`, what llama-quantize runs; fixtures
        /// from tools/gen_kquant_fixtures.py), byte for byte, at every ISA level.
        @Test(arguments: [DType.q2_K, .q3_K, .q4_K, .q5_K, .q6_K])
        func kQuantQuantizerMatchesGGML(_ type: DType) throws {
            let input = try Fixtures.floats("quant/superblocks.f32")
            let expected = Array(try Fixtures.data("quant/\(type).quant.bin"))
            #expect(input.count / 256 * type.bytesPerBlock == expected.count)
            for level in KernelLevel.supported {
                var got = [UInt8](repeating: 0, count: expected.count)
                input.withUnsafeBufferPointer { src in
                    got.withUnsafeMutableBytes { level.kernels![type.traits.fromFloat!]!(src.baseAddress!, $0.baseAddress!, Int64(input.count)) }
                }
                let blockBytes = type.bytesPerBlock
                let firstBad = (0..<(input.count / 256)).first { b in
                    got[(b * blockBytes)..<((b + 1) * blockBytes)] != expected[(b * blockBytes)..<((b + 1) * blockBytes)]
                }
                #expect(firstBad == nil, "\(type) at \(level): super-block \(firstBad ?? -1) differs from ggml's")
            }
        }

        /// Every other block type a GGUF file can hold: random blocks (with finite scales of every kind)
        /// decode to exactly gguf-py's `quants.dequantize` values, bit for bit, at every ISA level.
        @Test(arguments: [DType.q4_1, .q5_0, .q5_1, .iq4_nl, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs])
        func dequantizationMatchesGGUF(_ type: DType) throws {
            let blocks = Array(try Fixtures.data("quant/\(type).blocks"))
            let expected = try Fixtures.floats("quant/\(type).dequant.f32")
            #expect(blocks.count / type.bytesPerBlock * type.blockSize == expected.count)
            for level in KernelLevel.supported {
                var got = [Float](repeating: 0, count: expected.count)
                blocks.withUnsafeBytes { raw in
                    got.withUnsafeMutableBufferPointer { level.kernels![type.traits.toFloat!]!(raw.baseAddress!, $0.baseAddress!, Int64(expected.count)) }
                }
                let firstBad = got.indices.first { got[$0].bitPattern != expected[$0].bitPattern }
                #expect(firstBad == nil, "\(type) at \(level): value \(firstBad ?? -1) is \(firstBad.map { got[$0] } ?? 0), gguf-py \(firstBad.map { expected[$0] } ?? 0)")
            }
        }

        @Test func f16ConversionMatchesNumpy() throws {
            let input = try Fixtures.floats("quant/half.f32")
            let expected = Array(try Fixtures.data("quant/f16.bin"))
            #expect(try encode(.f16, input) == expected)
            // Element by element through the scalar path too.
            let bits = expected.withUnsafeBytes { raw in (0..<input.count).map { raw.load(fromByteOffset: $0 * 2, as: UInt16.self) } }
            for (value, want) in zip(input, bits) { #expect(HalfPrecision.f16Bits(value) == want, "f16(\(value))") }
        }

        @Test func bf16ConversionMatchesGGUF() throws {
            let input = try Fixtures.floats("quant/half.f32")
            #expect(try encode(.bf16, input) == Array(try Fixtures.data("quant/bf16.bin")))
        }

        @Test func halfConversionsKeepNaNAndWidenExactly() throws {
            #expect(HalfPrecision.f32(fromF16: HalfPrecision.f16Bits(.nan)).isNaN)
            #expect(HalfPrecision.f32(fromBF16: HalfPrecision.bf16Bits(.nan)).isNaN)
            #expect(HalfPrecision.f32(fromBF16: HalfPrecision.bf16Bits(-.nan)).isNaN)
            #expect(HalfPrecision.f16Bits(65520) == 0x7C00)
            #expect(HalfPrecision.f16Bits(-65520) == 0xFC00)
            #expect(HalfPrecision.f16Bits(65519.99) == 0x7BFF)
            #expect(HalfPrecision.f16Bits(5.960464477539063e-08) == 0x0001)
            // Every f16 value widens and narrows back to itself (except NaN payloads).
            for bits in UInt16.min...UInt16.max {
                let value = HalfPrecision.f32(fromF16: bits)
                if value.isNaN { continue }
                #expect(HalfPrecision.f16Bits(value) == bits)
            }
            var row = [Float](repeating: 0, count: 37)
            let source: [UInt16] = (0..<37).map { UInt16($0 * 1771 % 0x7C00) }
            source.withUnsafeBufferPointer { DType.f16.decode($0.baseAddress!, into: &row, count: 37) }
            #expect(row == source.map { HalfPrecision.f32(fromF16: $0) })
        }

        @Test(arguments: [DType.q8_0, .q4_0])
        func dequantizedBlocksAreWithinHalfAStep(_ type: DType) throws {
            var generator = SeededGenerator(seed: 11)
            let values = generator.floats(32 * 40, scale: 3)
            let tensor = try Tensor(values, shape: Shape(32, 40))
            let decoded = try tensor.converted(to: type).floats()
            for block in 0..<40 {
                let slice = values[(block * 32)..<(block * 32 + 32)]
                let amax = slice.map(abs).max()!
                // Half a step from rounding; Q4_0 clamps the far side of its range (quant 8 → 7): up to a whole step.
                let step = type == .q8_0 ? amax / 127 : amax / 8
                let bound = type == .q8_0 ? step * 0.5 : step
                for i in slice.indices { #expect(abs(decoded[i] - values[i]) <= bound + amax * 2e-3) }
            }
        }

        @Test func traitsTableIsComplete() {
            #expect(DType.allCases.map(\.traits.name) == ["f32", "f16", "bf16", "q8_0", "q4_0", "i32", "q8_0r8", "q4_0r8", "q8_0s",
                                                          "q4_1", "q5_0", "q5_1", "iq4_nl", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_xs", "q8_K",
                                                          "q4_Kr8", "q6_Kr8", "q5_Kr8", "q4_1r8", "q5_0r8", "q5_1r8", "q3_Kr8", "q2_Kr8", "iq4_nlr8", "iq4_xsr8"])
            #expect(DType.allCases.map(\.traits.ggufTypeID) == [0, 1, 30, 8, 2, 26, nil, nil, nil, 3, 6, 7, 20, 10, 11, 12, 13, 14, 23, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil])
            // Block bytes from the C structs, as ggml's.
            #expect([DType.q4_1, .q5_0, .q5_1, .iq4_nl, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs].map(\.bytesPerBlock) == [20, 22, 24, 18, 84, 110, 144, 176, 210, 136])
            // The in-memory layouts are neither file types nor command-line names.
            #expect(DType.allCases.filter(\.isFileType) == [.f32, .f16, .bf16, .q8_0, .q4_0, .i32, .q4_1, .q5_0, .q5_1, .iq4_nl,
                                                              .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs])
            #expect(DType(name: "q8_0r8") == nil && DType(name: "q8_0s") == nil)
            #expect(DType.q8_0r8.interleavedFrom == .q8_0 && DType.q4_0r8.interleavedFrom == .q4_0 && DType.q8_0.interleavedFrom == nil)
            #expect(DType.q4_Kr8.interleavedFrom == .q4_K && DType.q4_K.interleavedLayout == .q4_Kr8 && DType.iq4_xs.interleavedLayout == .iq4_xsr8)
            #expect(DType.iq4_xsr8.bytesPerBlock == 136 && DType.iq4_xsr8.traits.activationType == .q8_K)
            #expect(DType.q2_K.interleavedLayout == .q2_Kr8 && DType.q2_Kr8.bytesPerBlock == 84)
            #expect(DType.q3_K.interleavedLayout == .q3_Kr8 && DType.q3_Kr8.bytesPerBlock == 110 && DType.q3_Kr8.traits.activationType == .q8_K)
            #expect([DType.q4_1, .q5_0, .q5_1, .iq4_nl].map(\.interleavedLayout) == [.q4_1r8, .q5_0r8, .q5_1r8, .iq4_nlr8])
            #expect([DType.q4_1r8, .q5_0r8, .q5_1r8, .iq4_nlr8].map(\.bytesPerBlock) == [20, 22, 24, 18] && DType.iq4_nlr8.traits.activationType == .q8_0s)
            #expect(DType.q5_Kr8.interleavedFrom == .q5_K && DType.q5_K.interleavedLayout == .q5_Kr8 && DType.q5_Kr8.bytesPerBlock == 176)
            #expect(DType.q6_Kr8.interleavedFrom == .q6_K && DType.q6_K.interleavedLayout == .q6_Kr8 && DType.q6_Kr8.bytesPerBlock == 210)
            #expect(DType.q4_Kr8.traits.activationType == .q8_K && DType.q4_Kr8.bytesPerBlock == 144 && DType(name: "q4_Kr8") == nil)
            #expect(DType.q8_0r8.traits.activationType == .q8_0s && DType.q4_0r8.bytesPerBlock == 18)
            #expect(DType.q8_0.bytesPerBlock == 34 && DType.q4_0.bytesPerBlock == 18 && DType.q4_0.blockSize == 32)
            #expect(DType(ggufTypeID: 8) == .q8_0 && DType(ggufTypeID: 3) == .q4_1 && DType(ggufTypeID: 16) == nil)
            #expect(DType(name: "Q4_0") == .q4_0 && DType(name: "q5_k") == .q5_K && DType(name: "q7_0") == nil)
            for type in [DType.f32, .f16, .bf16, .q8_0, .q4_0] {
                #expect(type.traits.fromFloat != nil && type.traits.toFloat != nil && type.traits.vecDot != nil && type.traits.matmul != nil)
            }
            #expect(DType.q4_0.traits.activationType == .q8_0 && DType.f16.traits.activationType == .f32)
        }

        /// The table's reference vec-dots against a dot of the dequantized values.
        @Test(arguments: [DType.f32, .f16, .bf16, .q8_0, .q4_0])
        func referenceVecDotMatchesDequantizedDot(_ type: DType) throws {
            var generator = SeededGenerator(seed: 5)
            let n = 96
            let w = try Tensor(generator.floats(n), shape: Shape(n)).converted(to: type)
            let x = try Tensor(generator.floats(n), shape: Shape(n))
            let activation = try x.converted(to: type.traits.activationType)
            let got = w.withUnsafeBytes { wb in activation.withUnsafeBytes { xb in type.traits.vecDot!(wb.baseAddress!, xb.baseAddress!, n) } }
            let want = zip(w.floats(), activation.floats()).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            #expect(abs(got - want) <= 1e-4 * max(1, abs(want)))
        }
    }
}

extension TensorTestSuite {
    /// Every ISA level's Q8_0 quantizer (the vectorised one quantizes the activations of quantized matmuls)
    /// equals the scalar reference quantizer byte for byte, ties included.
    struct FastQuantizerTests {
        @Test(arguments: KernelLevel.supported)
        func q8_0MatchesTheScalarReferenceAtEveryLevel(_ level: KernelLevel) throws {
            var generator = SeededGenerator(seed: 77)
            var values = try Fixtures.floats("quant/blocks.f32")
            values += generator.floats(32 * 200, scale: 5)
            values += (0..<(32 * 20)).map { Float($0 % 64) * 0.5 - 16 }   // exact .5 ties after scaling
            func quantized(_ level: KernelLevel) -> [UInt8] {
                var bytes = [UInt8](repeating: 0, count: values.count / 32 * 34)
                values.withUnsafeBufferPointer { src in
                    bytes.withUnsafeMutableBytes { level.kernels![\.f32_to_q8_0]!(src.baseAddress!, $0.baseAddress!, Int64(values.count)) }
                }
                return bytes
            }
            let reference = quantized(.scalar), fast = quantized(level)
            let firstBad = (0..<(values.count / 32)).first { b in fast[(b * 34)..<(b * 34 + 34)] != reference[(b * 34)..<(b * 34 + 34)] }
            #expect(firstBad == nil, "block \(firstBad ?? -1) differs")
        }

        /// The same for Q8_K (the activations of the K-quant matmuls): scale, quants and group sums. The blocks
        /// include exact .5 ties, a largest magnitude first reached by a positive value and then by a negative one
        /// (and the reverse), and an all-zero block.
        @Test(arguments: KernelLevel.supported)
        func q8_KMatchesTheScalarQuantizerAtEveryLevel(_ level: KernelLevel) throws {
            var generator = SeededGenerator(seed: 79)
            var values = generator.floats(256 * 40, scale: 4)
            values += (0..<256).map { Float($0 % 64) * 0.5 - 16 }   // .5 ties after scaling by −127/−16
            var positiveFirst = generator.floats(256, scale: 1)
            positiveFirst[37] = 3
            positiveFirst[200] = -3
            var negativeFirst = positiveFirst
            negativeFirst[37] = -3
            negativeFirst[200] = 3
            values += positiveFirst + negativeFirst + [Float](repeating: 0, count: 256)
            let blockBytes = DType.q8_K.bytesPerBlock
            func quantized(_ level: KernelLevel) -> [UInt8] {
                var bytes = [UInt8](repeating: 0xAA, count: values.count / 256 * blockBytes)
                values.withUnsafeBufferPointer { src in
                    bytes.withUnsafeMutableBytes { level.kernels![\.f32_to_q8_K]!(src.baseAddress!, $0.baseAddress!, Int64(values.count)) }
                }
                return bytes
            }
            let reference = quantized(.scalar), fast = quantized(level)
            let blocks = values.count / 256
            let firstBad = (0..<blocks).first { b in fast[(b * blockBytes)..<((b + 1) * blockBytes)] != reference[(b * blockBytes)..<((b + 1) * blockBytes)] }
            #expect(firstBad == nil, "block \(firstBad ?? -1) differs")
            // The scalar quantizer itself: a block's scale is its first value of largest magnitude over −127.
            let scale = { (b: Int) in reference.withUnsafeBytes { $0.load(fromByteOffset: b * blockBytes, as: Float.self) } }
            #expect(scale(blocks - 3) == 1 / (-127 / Float(3)) && scale(blocks - 2) == 1 / (-127 / Float(-3)) && scale(blocks - 1) == 0)
        }

        /// Q8_0s blocks: the reference Q8_0 scale (widened from f16) and quants, plus the quants' sum.
        @Test func q8_0sHoldsTheQ8_0BlockAndItsSum() throws {
            var generator = SeededGenerator(seed: 78)
            let values = generator.floats(32 * 50, scale: 3) + [Float](repeating: 0, count: 32)
            let tensor = try Tensor(values, shape: Shape(32 * 17, 3))
            let q8 = try tensor.converted(to: .q8_0).bytes, q8s = try tensor.converted(to: .q8_0s).bytes
            #expect(q8s.count == values.count / 32 * 40)
            for b in 0..<(values.count / 32) {
                let plain = Array(q8[(b * 34)..<(b * 34 + 34)]), block = Array(q8s[(b * 40)..<(b * 40 + 40)])
                let d = block.withUnsafeBytes { $0.load(as: Float.self) }, sum = block.withUnsafeBytes { $0.load(fromByteOffset: 4, as: Int32.self) }
                #expect(d == HalfPrecision.f32(fromF16: UInt16(plain[0]) | UInt16(plain[1]) << 8))
                #expect(Array(block[8...]) == Array(plain[2...]))
                #expect(sum == block[8...].reduce(Int32(0)) { $0 + Int32(Int8(bitPattern: $1)) })
            }
            #expect(try tensor.converted(to: .q8_0s).floats() == tensor.converted(to: .q8_0).floats())
        }
    }
}
