import Foundation
import ModelFiles
import Tensor
import Testing

/// Conversions against files gguf-py wrote from the same random model (tools/gen_format_fixtures.py).
@Suite struct RoundTripTests {
    /// `.pth`, safetensors and GGUF inputs give byte-for-byte the GGUF gguf-py wrote with llama.cpp's names,
    /// layouts and metadata.
    @Test(arguments: ["tiny.pth", "tiny.safetensors", "tiny-f32.gguf"])
    func convertMatchesGGUFPy(_ source: String) throws {
        let scratch = try ScratchDirectory()
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path(source)))
        #expect(weights.hyperparameters == RWKV7Hyperparameters(vocabularySize: 64, embedding: 128, layers: 2, headSize: 64,
                                                                decayRank: 32, iclrRank: 32, valueRank: 32, gateRank: 32, ffnSize: 128))
        let converted = try RWKV7Conversion.apply(weights) { RWKV7Conversion.convertType($0, $1, to: nil) }
        try RWKV7GGUF.writer(for: converted, name: "tiny-f32").write(to: scratch.path("out.gguf"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("out.gguf"))) == (try Fixtures.data("tiny-f32.gguf")))
        // Read back: every tensor equals the source's, bit for bit.
        let back = try RWKV7Weights(try Checkpoint.open(scratch.path("out.gguf")))
        for name in weights.orderedNames { #expect(try back.tensor(name).bytes == (try weights.tensor(name)).bytes, "\(name)") }
    }

    /// `rwkv quantize` bytes equal gguf-py's reference quantizer on the same input.
    @Test(arguments: [DType.q8_0, .q4_0])
    func quantizeMatchesGGUFPy(_ type: DType) throws {
        let scratch = try ScratchDirectory()
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("tiny-f32.gguf")))
        let quantized = try RWKV7Conversion.apply(weights) { RWKV7Conversion.quantizeType($0, $1, to: QuantizationPlan(type)) }
        #expect(try quantized.tensor("blk.1.time_mix_key.weight").dtype == type)
        #expect(try quantized.tensor("output.weight").dtype == .q8_0)
        #expect(try quantized.tensor("blk.0.time_mix_a1.weight").dtype == .f32)
        try RWKV7GGUF.writer(for: quantized, name: "tiny-\(type)").write(to: scratch.path("q.gguf"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("q.gguf"))) == (try Fixtures.data("tiny-\(type).gguf")))
    }

    @Test func convertTypesFollowLlamaCpp() throws {
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("tiny.pth")))
        let q4 = try RWKV7Conversion.apply(weights) { RWKV7Conversion.convertType($0, $1, to: QuantizationPlan(.q4_0)) }
        let expectations: [(String, DType)] = [
            ("token_embd.weight", .q4_0), ("output.weight", .q8_0), ("blk.0.time_mix_receptance.weight", .q4_0),
            ("blk.1.channel_mix_value.weight", .q4_0), ("blk.0.time_mix_w1.weight", .f32), ("blk.0.time_mix_lerp_fused.weight", .f32),
            ("blk.0.time_mix_a1.weight", .f16), ("blk.1.time_mix_v2.weight", .f16), ("blk.0.time_mix_g1.weight", .f16),
            ("blk.0.attn_norm.weight", .f32), ("blk.0.time_mix_r_k.weight", .f32),
        ]
        for (name, type) in expectations { #expect(try q4.tensor(name).dtype == type, "\(name)") }
        let f32 = try RWKV7Conversion.apply(weights) { RWKV7Conversion.convertType($0, $1, to: QuantizationPlan(.f32)) }
        #expect(f32.tensors.values.allSatisfy { $0.dtype == .f32 })
    }

    /// The shared rwkv.cpp tiny model (FP32 and FP16 files) converts to GGUF and reads back with every
    /// tensor's bytes unchanged.
    @Test(.enabled(if: Fixtures.hasShared("tiny-rwkv-7v0-834K-FP32.bin", "tiny-rwkv-7v0-834K-FP16.bin"), "needs ../shared/models"),
          arguments: ["tiny-rwkv-7v0-834K-FP32.bin", "tiny-rwkv-7v0-834K-FP16.bin"])
    func rwkvCppFileRoundTrip(_ name: String) throws {
        let path = Fixtures.shared(name)!
        let scratch = try ScratchDirectory()
        let checkpoint = try Checkpoint.open(path)
        #expect(checkpoint.format == .rwkvCpp && checkpoint.tensors.count == 339)
        let weights = try RWKV7Weights(checkpoint)
        #expect(weights.hyperparameters.summary == "L12 C64 H1×64 V256 F256")
        #expect(weights.hyperparameters.parameterCount == 829_888)
        let converted = try RWKV7Conversion.apply(weights) { RWKV7Conversion.convertType($0, $1, to: nil) }
        try RWKV7GGUF.writer(for: converted, name: "tiny").write(to: scratch.path("tiny.gguf"))
        let back = try RWKV7Weights(try Checkpoint.open(scratch.path("tiny.gguf")))
        let source = Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.name, $0.tensor) })
        for ggufName in weights.orderedNames where !ggufName.contains("lerp_fused") {
            let official = RWKV7Tensor.officialName(forGGUF: ggufName)!
            let got = try back.tensor(ggufName), want = source[official]!
            if got.dtype == want.dtype {
                #expect(got.bytes == want.bytes, "\(official)")
            } else {
                // w1/w2 are F16 in the FP16 file and F32 in GGUF (llama.cpp forces them): exact widening.
                #expect(got.dtype == .f32 && got.floats() == want.floats(), "\(official)")
            }
        }
        let fused = try back.tensor("blk.3.time_mix_lerp_fused.weight")
        #expect(fused.floats() == source["blocks.3.att.x_rwkvag"]!.floats())
    }

    @Test func vocabularyTextsAreStoredAsLlamaCppStoresThem() throws {
        // repr() picks double quotes for bytes holding ' but no ", so ' stays bare there.
        #expect(WorldVocabulary.ggufText(Array("a'b\\c\n".utf8)) == "a'b\\\\c\\n")
        #expect(WorldVocabulary.ggufText(Array("a'\"".utf8)) == "a\\'\"")
        #expect(WorldVocabulary.ggufText([0xE4, 0xBD, 0xA0, 0x00]) == "\\xe4\\xbd\\xa0\\x00")
        for sample: [UInt8] in [[0x80], Array("tab\there".utf8), [0x5C, 0x78, 0x34], Array("\"q\"".utf8)] {
            #expect(WorldVocabulary.bytes(fromGGUFText: WorldVocabulary.ggufText(sample)) == sample)
        }
    }

    @Test(.enabled(if: Fixtures.hasShared("rwkv_vocab_v20230424.txt"), "needs ../shared/models"))
    func vocabularyGoesIntoGGUFAsLlamaCppStoresIt() throws {
        let vocabulary = try WorldVocabulary(contentsOf: Fixtures.shared("rwkv_vocab_v20230424.txt")!)
        #expect(vocabulary.modelSize == 65530)
        #expect(vocabulary.tokens[1] == [0x00] && vocabulary.tokens[11] == [0x0A] && vocabulary.tokens[256] == [0xFF])
        #expect(vocabulary.tokens[65529] == [UInt8](repeating: 0x20, count: 128))
        #expect(vocabulary.tokens[2423] == [0xC2, 0x80])
        let metadata = Dictionary(uniqueKeysWithValues: vocabulary.ggufMetadata(modelSize: 65536))
        guard case .array(let texts)? = metadata["tokenizer.ggml.tokens"], texts.elementType == .string else { Issue.record("no tokens"); return }
        #expect(texts.count == 65536 && texts[0] == .string("<s>") && texts[65535] == .string("[PAD65535]"))
        #expect(texts[11] == .string("\\n"))
    }
}
