import Benchmarks
import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

@Suite struct TokenizerTests {
    static let vocabulary = Result { () throws -> WorldVocabulary in
        try WorldVocabulary(contentsOf: Fixtures.shared("rwkv_vocab_v20230424.txt") ?? "../shared/models/rwkv_vocab_v20230424.txt")
    }

    struct Case: Decodable {
        let name: String
        let hex: String
        let ids: [Int32]
        var bytes: [UInt8] {
            stride(from: 0, to: hex.count, by: 2).map { i in
                UInt8(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 2)], radix: 16)!
            }
        }
    }

    /// English, Chinese, emoji, code, whitespace runs and invalid UTF-8: ids equal the official tokenizer's.
    @Test(.enabled(if: Fixtures.hasShared("rwkv_vocab_v20230424.txt"), "needs ../shared/models"))
    func matchesOfficialTokenizer() throws {
        let vocabulary = try Self.vocabulary.get()
        let tokenizer = WorldTokenizer(vocabulary)
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tokenizer.json"))))
        #expect(cases.count == 10)
        for c in cases {
            #expect(tokenizer.encode(c.bytes) == c.ids, "\(c.name)")
            #expect(tokenizer.decode(c.ids) == c.bytes, "\(c.name)")
        }
        // Speed (reported, not asserted): encode a few MB of mixed text.
        let text = Array(String(repeating: "The quick brown fox 你好世界 def f(x): return x * 2 👋🏽\n", count: 40_000).utf8)
        let start = ContinuousClock.now
        let ids = tokenizer.encode(text)
        let seconds = (ContinuousClock.now - start).seconds
        print("tokenizer: \(text.count) bytes → \(ids.count) tokens at \(Int(Double(text.count) / seconds / 1e6)) MB/s")
        #expect(tokenizer.decode(ids) == text)
    }

    @Test func streamingDecoderNeverSplitsACharacter() {
        let text = "a€😀é"
        var decoder = UTF8StreamDecoder()
        var out = ""
        for byte in Array(text.utf8) { out += decoder.push([byte]) }
        out += decoder.finish()
        #expect(out == text)
        var partial = UTF8StreamDecoder()
        #expect(partial.push([0x61, 0xF0, 0x9F]) == "a")
        #expect(partial.push([0x98]) == "")
        #expect(partial.push([0x80, 0x62]) == "😀b")
        #expect(partial.push([0xFF, 0x63]) == "\u{FFFD}c")
        #expect(partial.push([0xE2, 0x82]) == "")
        #expect(partial.finish() == "\u{FFFD}")
    }
}

@Suite struct SamplerTests {
    func settings(temperature: Float = 1, topP: Float = 1, topK: Int = 0, presence: Float = 0, frequency: Float = 0, seed: UInt64 = 1) -> SamplerSettings {
        var s = SamplerSettings()
        s.temperature = temperature
        s.topP = topP
        s.topK = topK
        s.presencePenalty = presence
        s.frequencyPenalty = frequency
        s.seed = seed
        return s
    }

    @Test func greedyAndTopKOneAreArgmax() {
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<20 {
            let logits = generator.floats(5000, scale: 4)
            let best = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
            var greedy = Sampler(settings(temperature: 0))
            var topK = Sampler(settings(topK: 1))
            #expect(greedy.sample(logits) == best && topK.sample(logits) == best)
        }
    }

    /// `bansEndOfText` never picks token 0, even where it is the most likely token by far.
    @Test func bannedEndOfTextIsNeverPicked() {
        var generator = SeededGenerator(seed: 4)
        var logits = generator.floats(300, scale: 1)
        logits[0] = 8  // about 90 % of the mass
        var banning = settings(topP: 0.9)
        banning.bansEndOfText = true
        var free = Sampler(settings(topP: 0.9)), banned = Sampler(banning)
        var greedy = settings(temperature: 0)
        greedy.bansEndOfText = true
        var greedyBanned = Sampler(greedy)
        var freeZeros = 0
        for _ in 0..<200 {
            if free.sample(logits) == 0 { freeZeros += 1 }
            #expect(banned.sample(logits) != 0)
        }
        #expect(freeZeros > 100)
        let second = Int32(logits.indices.dropFirst().max { logits[$0] < logits[$1] }!)
        #expect(greedyBanned.sample(logits) == second)
    }

    /// Top-p keeps the smallest set of most likely tokens whose mass reaches p.
    @Test func topPKeepsTheSmallestSetOverP() {
        let probabilities: [Float] = [0.05, 0.4, 0.1, 0.3, 0.15]
        let logits = probabilities.map { Float(log(Double($0))) }
        var sampler = Sampler(settings(topP: 0.65))
        var seen = Set<Int32>()
        for _ in 0..<2000 { seen.insert(sampler.sample(logits)) }
        #expect(seen == [1, 3])  // 0.4 + 0.3 ≥ 0.65; 0.4 alone is not
        var wide = Sampler(settings(topP: 0.8))
        seen = []
        for _ in 0..<2000 { seen.insert(wide.sample(logits)) }
        #expect(seen == [1, 3, 4])
        // A large vocabulary: selection in rounds gives the same set as a full sort.
        var generator = SeededGenerator(seed: 9)
        let big = generator.floats(65536, scale: 3)
        var many = Sampler(settings(topP: 0.9))
        for _ in 0..<50 { _ = many.sample(big) }
    }

    /// Frequencies follow the softmax (temperature 1, no truncation) and temperature sharpens it.
    @Test func distributionFollowsSoftmax() {
        let logits: [Float] = [0, 1, 2, -1]
        let e = logits.map { Foundation.exp(Double($0)) }
        let p = e.map { $0 / e.reduce(0, +) }
        var sampler = Sampler(settings())
        var counts = [Int](repeating: 0, count: 4)
        let draws = 40_000
        for _ in 0..<draws { counts[Int(sampler.sample(logits))] += 1 }
        for i in 0..<4 { #expect(abs(Double(counts[i]) / Double(draws) - p[i]) < 0.01, "token \(i)") }
        var cold = Sampler(settings(temperature: 0.5))
        var coldCounts = [Int](repeating: 0, count: 4)
        for _ in 0..<draws { coldCounts[Int(cold.sample(logits))] += 1 }
        let p2 = e.map { $0 * $0 }, q = p2.map { $0 / p2.reduce(0, +) }
        #expect(abs(Double(coldCounts[2]) / Double(draws) - q[2]) < 0.01)
    }

    @Test func penaltiesLowerTheRightLogits() {
        var sampler = Sampler(settings(presence: 0.5, frequency: 0.25))
        sampler.accept(3, text: Array("cat".utf8))
        sampler.accept(3, text: Array("cat".utf8))
        sampler.accept(7, text: Array(" ".utf8))   // whitespace: presence only
        var logits = [Float](repeating: 1, count: 10)
        sampler.applyPenalties(&logits)
        let decay: Float = 0.996
        #expect(abs(logits[3] - (1 - 0.5 - 0.25 * (decay * decay + decay))) < 1e-6)
        #expect(abs(logits[7] - 0.5) < 1e-6)
        #expect(logits.enumerated().allSatisfy { ![3, 7].contains($0.offset) ? $0.element == 1 : true })
    }

    @Test func sameSeedSameTokens() {
        var generator = SeededGenerator(seed: 4)
        let logits = generator.floats(1000, scale: 2)
        var a = Sampler(settings(topP: 0.9, seed: 5)), b = Sampler(settings(topP: 0.9, seed: 5)), c = Sampler(settings(topP: 0.9, seed: 6))
        let x = (0..<50).map { _ in a.sample(logits) }, y = (0..<50).map { _ in b.sample(logits) }, z = (0..<50).map { _ in c.sample(logits) }
        #expect(x == y && x != z)
    }
}

@Suite struct ChatTests {
    /// A synthetic World-style vocabulary for the random fixture model: the 256 bytes, then common pairs.
    static func codec() -> TextCodec {
        var tokens: [[UInt8]] = [[]] + (0...255).map { [UInt8($0)] }
        let words = ["\n\n", "User", "Assistant", ": ", "the", " a", "er", "in", "on", "Hello", "\n\nUser:"]
        tokens += words.map { Array($0.utf8) }
        return .world(WorldTokenizer(WorldVocabulary(path: "synthetic", tokens: tokens)))
    }

    static func generator(threads: Int = 2) throws -> TextGenerator {
        let session = try RWKV7Session(model: try RWKV7Model(path: Fixtures.path("random-rwkv7.pth")), threads: threads)
        var settings = SamplerSettings()
        settings.seed = 11
        return TextGenerator(session: session, codec: codec(), settings: settings)
    }

    /// Turn 2's logits (after its prompt) equal feeding turn 1 + turn 2 in one prefill.
    @Test(arguments: [false, true])
    func stateCarriesAcrossTurns(reasoner: Bool) throws {
        let generator = try Self.generator()
        let chat = ChatSession(generator: generator, reasoner: reasoner, maxTokens: 12)
        _ = try chat.turn("Hello there", onText: { _ in })
        let turnTwoPrompt = generator.codec.encode(chat.prompt(for: "And again?", continuing: true))
        let afterTurnOne = generator.fedTokens
        let logits = try generator.feed(turnTwoPrompt)

        let fresh = try RWKV7Session(model: generator.session.model, threads: 1)
        let oneShot = try fresh.process(afterTurnOne + turnTwoPrompt, chunk: 4096)[0]
        #expect(maxAbsDifference(logits, oneShot) <= 1e-5)
    }

    @Test func generationStopsAndIsReproducible() throws {
        let a = try Self.generator(), b = try Self.generator(threads: 1)
        var streamed = ""
        let first = try a.generate(prompt: Array("User: hi".utf8), maxTokens: 30, onText: { streamed += $0 })
        let second = try b.generate(prompt: Array("User: hi".utf8), maxTokens: 30, onText: { _ in })
        #expect(first.text == second.text && first.stats.generatedTokens <= 30)
        #expect(streamed == String(decoding: first.text, as: UTF8.self))
        // A stop string that is the first generated byte ends generation at once.
        let c = try Self.generator()
        let firstByte = Array(first.text.prefix(1))
        let stopped = try c.generate(prompt: Array("User: hi".utf8), maxTokens: 30, stops: [firstByte], onText: { _ in })
        #expect(stopped.text.isEmpty && stopped.stats.stopReason == .stopString)
        #expect(throws: ExecutionError.self) { try Self.generator().generate(prompt: [], maxTokens: 5, onText: { _ in }) }
    }

    @Test func codecErrors() throws {
        let checkpoint = try Checkpoint.open(Fixtures.path("random-rwkv7.pth"))
        #expect { try TextCodec.forModel(checkpoint, vocabularySize: 2048, vocabularyPath: nil) } throws: { "\($0)".contains("no vocabulary") }
        if case .bytes = try TextCodec.forModel(checkpoint, vocabularySize: 256, vocabularyPath: nil) {} else { Issue.record("expected bytes codec") }
    }

    @Test(.enabled(if: Fixtures.hasShared("rwkv_vocab_v20230424.txt"), "needs ../shared/models"))
    func vocabularyLargerThanTheModelIsRefused() throws {
        let checkpoint = try Checkpoint.open(Fixtures.path("random-rwkv7.pth"))
        let vocab = Fixtures.shared("rwkv_vocab_v20230424.txt")!
        #expect { try TextCodec.forModel(checkpoint, vocabularySize: 2048, vocabularyPath: vocab) } throws: { "\($0)".contains("65529 tokens but the model only 2048") }
    }
}
