import Foundation
import ModelFiles
import Tensor

/// How a model's token ids map to bytes: raw bytes (id = byte, 256-token models such as rwkv.cpp's tiny
/// test model) or the World vocabulary.
public enum TextCodec: Sendable {
    case bytes
    case world(WorldTokenizer)

    public func encode(_ bytes: [UInt8]) -> [Int32] {
        switch self {
        case .bytes: bytes.map(Int32.init)
        case .world(let tokenizer): tokenizer.encode(bytes)
        }
    }

    public func bytes(of token: Int32) -> [UInt8] {
        switch self {
        case .bytes: token >= 0 && token < 256 ? [UInt8(token)] : []
        case .world(let tokenizer): tokenizer.bytes(of: token)
        }
    }

    /// The codec for a model: bytes for a 256-token vocabulary, else the World vocabulary from the GGUF
    /// file or `vocabularyPath`; a clear error when there is none or it does not fit the model.
    public static func forModel(_ checkpoint: Checkpoint, vocabularySize: Int, vocabularyPath: String?) throws -> TextCodec {
        if let vocabularyPath {
            let vocabulary = try WorldVocabulary(contentsOf: vocabularyPath)
            guard vocabulary.modelSize <= vocabularySize else {
                throw ModelFileError(vocabularyPath, "vocabulary has \(vocabulary.modelSize - 1) tokens but the model only \(vocabularySize) rows")
            }
            return .world(WorldTokenizer(vocabulary))
        }
        if let gguf = checkpoint.gguf, let vocabulary = WorldVocabulary(gguf: gguf), vocabulary.modelSize > 257 {
            guard vocabulary.modelSize <= vocabularySize else {
                throw ModelFileError(checkpoint.path, "vocabulary has \(vocabulary.modelSize - 1) tokens but the model only \(vocabularySize) rows")
            }
            return .world(WorldTokenizer(vocabulary))
        }
        if vocabularySize == 256 { return .bytes }
        throw ModelFileError(checkpoint.path, "the model file has no vocabulary; pass --vocab rwkv_vocab_v20230424.txt")
    }
}

/// Why a generation ended.
public enum StopReason: String, Sendable {
    /// The token budget ran out.
    case length
    /// The model produced its end-of-text token.
    case endOfText = "end of text"
    /// The output ended with a stop string.
    case stopString = "stop string"
    /// A chat's input ended.
    case endOfInput = "end of input"
    /// An RWKV-7b context is full (`--ctx-limit`): the last token was output but not fed.
    case contextFull = "context limit"
}

/// Counts and times of one generation.
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var prefillSeconds = 0.0
    public var generatedTokens = 0
    public var decodeSeconds = 0.0
    /// Why it stopped.
    public var stopReason = StopReason.length

    public init() {}

    public var summary: String {
        let prefill = prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0
        let decode = decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0
        return "prompt \(promptTokens) tokens, \(String(format: "%.1f", prefill)) t/s prefill; generated \(generatedTokens) tokens, \(String(format: "%.1f", decode)) t/s decode (\(stopReason.rawValue))"
    }
}

/// Prefills a prompt and samples a continuation, streaming text as it completes.
public final class TextGenerator {
    public let session: RWKV7Session
    public let codec: TextCodec
    public private(set) var sampler: Sampler
    /// Every token fed to the model so far, in order.
    public private(set) var fedTokens: [Int32] = []
    /// Logits after the last fed token.
    public private(set) var lastLogits: [Float] = []

    public init(session: RWKV7Session, codec: TextCodec, settings: SamplerSettings) {
        self.session = session
        self.codec = codec
        sampler = Sampler(settings)
    }

    /// Feeds `tokens` (prefill); returns the logits of the last.
    @discardableResult
    public func feed(_ tokens: [Int32]) throws -> [Float] {
        guard !tokens.isEmpty else { return lastLogits }
        lastLogits = try session.process(tokens, chunk: 512).last!
        fedTokens += tokens
        return lastLogits
    }

    /// Feeds `prompt` then samples up to `maxTokens` tokens, stopping at token 0 (end of text) or when the
    /// output ends with one of `stops` (removed from the text; the token that completed it is fed, so the
    /// state holds everything the model said). `onText` receives complete UTF-8 text as it is produced.
    public func generate(prompt: [UInt8], maxTokens: Int, stops: [[UInt8]] = [], onText: (String) -> Void) throws -> (text: [UInt8], stats: GenerationStats) {
        var stats = GenerationStats()
        let clock = ContinuousClock()
        if !prompt.isEmpty {
            let tokens = codec.encode(prompt)
            let start = clock.now
            try feed(tokens)
            stats.prefillSeconds = seconds(clock.now - start)
            stats.promptTokens = tokens.count
        }
        guard !lastLogits.isEmpty else { throw ExecutionError("the prompt tokenizes to nothing") }
        var output: [UInt8] = []
        var flushed = 0
        var decoder = UTF8StreamDecoder()
        let longestStop = stops.map(\.count).max() ?? 0
        let start = clock.now
        for _ in 0..<maxTokens {
            let token = sampler.sample(lastLogits)
            if token == 0 {
                stats.stopReason = .endOfText
                break
            }
            let bytes = codec.bytes(of: token)
            sampler.accept(token, text: bytes)
            output += bytes
            stats.generatedTokens += 1
            if session.isContextFull {
                stats.stopReason = .contextFull
                break
            }
            lastLogits = try session.step(token).floats()
            fedTokens.append(token)
            if let stop = stops.first(where: { output.count >= $0.count && Array(output.suffix($0.count)) == $0 }) {
                output.removeLast(stop.count)
                stats.stopReason = .stopString
                break
            }
            // Hold back what could still become a stop string.
            let safe = max(flushed, output.count - max(0, longestStop - 1))
            if safe > flushed {
                onText(decoder.push(Array(output[flushed..<safe])))
                flushed = safe
            }
        }
        stats.decodeSeconds = seconds(clock.now - start)
        if output.count > flushed { onText(decoder.push(Array(output[flushed...]))) }
        onText(decoder.finish())
        return (output, stats)
    }
}

/// A conversation: `User: …\n\nAssistant:` turns on one state; only each new turn is processed.
public final class ChatSession {
    public let generator: TextGenerator
    public let reasoner: Bool
    public let maxTokens: Int
    private var turns = 0

    /// `reasoner`: G1 models' think format (`Assistant: <think`), replies end at `\n\nUser:`;
    /// otherwise replies end at the turn separator `\n\n`.
    /// `continuing`: the state already holds earlier turns (a resumed conversation).
    public init(generator: TextGenerator, reasoner: Bool, maxTokens: Int, continuing: Bool = false) {
        self.generator = generator
        self.reasoner = reasoner
        self.maxTokens = maxTokens
        turns = continuing ? 1 : 0
    }

    /// The prompt bytes for a user message (`\n\n` inside a message becomes `\n`: it separates turns).
    public func prompt(for message: String, continuing: Bool) -> [UInt8] {
        let head = continuing && reasoner ? " " : "User: "
        return Array((head + ChatFormat.withoutBlankLines(message) + "\n\n" + ChatFormat.replyStart(reasoner: reasoner)).utf8)
    }

    /// One turn: prefill the user's message, generate the reply (streamed to `onText`).
    public func turn(_ message: String, onText: (String) -> Void) throws -> (reply: String, stats: GenerationStats) {
        let prompt = prompt(for: message, continuing: turns > 0)
        turns += 1
        if reasoner { onText(" <think") }
        let stop = Array(ChatFormat.stop(reasoner: reasoner).utf8)
        let (text, stats) = try generator.generate(prompt: prompt, maxTokens: maxTokens, stops: [stop], onText: onText)
        if stats.stopReason != .stopString && stats.stopReason != .contextFull {
            // Close the turn so the next one starts cleanly.
            try generator.feed(generator.codec.encode(stop))
        }
        return (String(decoding: text, as: UTF8.self), stats)
    }
}

/// A duration in seconds.
func seconds(_ duration: Duration) -> Double {
    let (whole, attoseconds) = duration.components
    return Double(whole) + Double(attoseconds) * 1e-18
}
