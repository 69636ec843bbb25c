import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

/// RWKV-7a (DeepEmbed) against the official package with RWKV_DE_VERSION=1 (tools/gen_deepembed_fixture.py).
@Suite struct DeepEmbedTests {
    static let reference = Result { try LogitsDump.read(Fixtures.path("random-rwkv7a.logits.safetensors")) }
    static let model = Result { try RWKV7Model(path: Fixtures.path("random-rwkv7a.pth")) }

    @Test(arguments: [48, 7, 1])
    func matchesOfficialPackage(chunk: Int) throws {
        let reference = try Self.reference.get()
        let model = try Self.model.get()
        #expect(model.hyperparameters.deepEmbedRank == 32 && model.hyperparameters.variant == "RWKV-7a (DeepEmbed)")
        let logits = try RWKV7Session(model: model, threads: 2).process(reference.tokens, chunk: chunk, allLogits: true)
        let worst = logits.indices.map { maxAbsDifference(logits[$0], reference.row($0)) }.max()!
        print("DeepEmbed vs official, chunk \(chunk): max |Δlogit| = \(worst)")
        #expect(worst <= 1e-4)
    }

    @Test func chunkedPrefillAndThreadsAgree() throws {
        let tokens = try Self.reference.get().tokens
        let model = try Self.model.get()
        let serial = try RWKV7Session(model: model, threads: 1).process(tokens, chunk: 1, allLogits: true)
        let chunked = try RWKV7Session(model: model, threads: 1).process(tokens, chunk: 48, allLogits: true)
        // Decode's matvecs and prefill's GEMMs round differently: 1.02e-5 seen (official package: 1e-4 above).
        #expect(zip(serial, chunked).map { maxAbsDifference($0, $1) }.max()! <= 2e-5)
        for threads in [2, 3] {
            let other = try RWKV7Session(model: model, threads: threads).process(tokens, chunk: 48, allLogits: true)
            #expect(other.map { $0.map(\.bitPattern) } == chunked.map { $0.map(\.bitPattern) }, "\(threads) threads")
        }
    }

    /// .pth → GGUF (our DeepEmbed names) → the same logits; quantized runs stay close.
    @Test func convertsAndQuantizes() throws {
        let scratch = try ScratchDirectory()
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("random-rwkv7a.pth")))
        let converted = try RWKV7Conversion.apply(weights) { RWKV7Conversion.convertType($0, $1, to: nil) }
        try RWKV7GGUF.writer(for: converted, name: "de").write(to: scratch.path("de.gguf"))
        let checkpoint = try Checkpoint.open(scratch.path("de.gguf"))
        #expect(checkpoint.gguf?["rwkv7.deep_embed_rank"] == .uint32(32))
        #expect(checkpoint.tensors.contains { $0.name == "blk.1.channel_mix_s_emb.weight" && $0.tensor.shape == Shape(1024, 512) })
        let fromGGUF = try RWKV7Weights(checkpoint)
        #expect(fromGGUF.hyperparameters == weights.hyperparameters)
        let tokens = Array(try Self.reference.get().tokens.prefix(16))
        let direct = try RWKV7Session(model: try RWKV7Model(weights)).process(tokens, allLogits: true)
        let viaFile = try RWKV7Session(model: try RWKV7Model(fromGGUF)).process(tokens, allLogits: true)
        #expect(zip(direct, viaFile).map { maxAbsDifference($0, $1) }.max()! <= 1e-5)
        let q8 = try RWKV7Session(model: try RWKV7Model(try weights.converted(toRunAt: .q8_0))).process(tokens, allLogits: true)
        #expect(zip(direct, q8).map { maxAbsDifference($0, $1) }.max()! <= 0.5)
        // Bytes read per token count one row of each token table, not the tables.
        let table = try weights.tensor("blk.0.channel_mix_s_emb.weight")
        #expect(weights.bytesPerToken < weights.tensors.values.reduce(0) { $0 + $1.byteCount } - table.byteCount)
    }

    /// Text generation runs on a DeepEmbed model like on any other (synthetic vocabulary: the 256 bytes).
    @Test func generates() throws {
        var tokens: [[UInt8]] = [[]] + (0...255).map { [UInt8($0)] }
        tokens += ["ab", "the", " a"].map { Array($0.utf8) }
        let codec = TextCodec.world(WorldTokenizer(WorldVocabulary(path: "synthetic", tokens: tokens)))
        let generator = TextGenerator(session: try RWKV7Session(model: try Self.model.get(), threads: 2), codec: codec, settings: SamplerSettings())
        let (text, stats) = try generator.generate(prompt: Array("the ab".utf8), maxTokens: 20, onText: { _ in })
        #expect(stats.promptTokens == 3 && stats.generatedTokens + (stats.stopReason == .endOfText ? 1 : 0) >= 1 && text.count <= 60)
    }
}
