import ArgumentParser
import Foundation
import ModelFiles
import RWKVGraph
import Tensor

/// Options shared by `generate` and `chat`.
struct RunOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Model file (GGUF, .pth, .safetensors/.st or rwkv.cpp .bin).") var model: String
    @Option(help: "World vocabulary file, for a model file that has none.") var vocab: String?
    @Option(name: [.short, .customLong("threads")], help: "Threads.") var threads = 1
    /// Run at this precision: weights converted at load as `rwkv quantize` converts them.
    @OptionGroup var precision: PrecisionOptions
    @Option(name: .short, help: "Largest number of tokens to generate (per reply in chat).") var n = 200
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = 1.0
    @Option(help: "Top-p (nucleus) probability mass.") var topP: Float = 0.7
    @Option(help: "Top-k (0 = off).") var topK = 0
    @Option(help: "Presence penalty.") var presencePenalty: Float = 0.1
    @Option(help: "Frequency penalty.") var frequencyPenalty: Float = 0.2
    @Option(help: "Penalty decay per token.") var penaltyDecay: Float = 0.996
    @Option(help: "Random seed (same seed, same text).") var seed: UInt64 = 42
    @Flag(help: "Never end at the end-of-text token: generate until -n or a stop.") var ignoreEos = false
    @Option(help: "RWKV-7b: the most tokens of context (prompt, replies and a loaded state together).")
    var ctxLimit = RWKV7Session.defaultContextLimit

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1…1024") }
        guard (1...1_000_000).contains(n) else { throw ValidationError("-n must be 1…1000000") }
        guard temperature >= 0, temperature <= 100 else { throw ValidationError("--temperature must be 0…100") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard penaltyDecay >= 0, penaltyDecay <= 1 else { throw ValidationError("--penalty-decay must be 0…1") }
        guard (1...Int(Int32.max)).contains(ctxLimit) else { throw ValidationError("--ctx-limit must be at least 1") }
    }

    var settings: SamplerSettings {
        var s = SamplerSettings()
        s.temperature = temperature
        s.topP = topP
        s.topK = topK
        s.presencePenalty = presencePenalty
        s.frequencyPenalty = frequencyPenalty
        s.penaltyDecay = penaltyDecay
        s.seed = seed
        s.bansEndOfText = ignoreEos
        return s
    }

    /// Loads the model at the chosen precision with its codec.
    func load() throws -> TextGenerator {
        let checkpoint = try Checkpoint.open(model)
        let weights = try RWKV7Weights(checkpoint).converted(toRunAt: try precision.plan())
        let codec = try TextCodec.forModel(checkpoint, vocabularySize: weights.hyperparameters.vocabularySize, vocabularyPath: vocab)
        let session = try RWKV7Session(model: try RWKV7Model(weights), threads: threads, contextLimit: ctxLimit)
        return TextGenerator(session: session, codec: codec, settings: settings)
    }
}

/// Writes text to stdout at once (streaming).
func emit(_ text: String) {
    guard !text.isEmpty else { return }
    var copy = text
    copy.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

/// `rwkv generate`: continue a prompt.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt, streaming the text; a stats line goes to stderr.")

    @OptionGroup var options: RunOptions
    @Option(name: .shortAndLong, help: "Prompt text.") var prompt: String
    @Option(help: "Stop when the output ends with this text (repeatable).") var stop: [String] = []

    func run() throws {
        try reportingErrors {
            guard !prompt.isEmpty else { throw ExecutionError("the prompt is empty: it tokenizes to nothing") }
            let generator = try options.load()
            emit(prompt)
            let (_, stats) = try generator.generate(prompt: Array(prompt.utf8), maxTokens: options.n,
                                                    stops: stop.map { Array($0.utf8) }.filter { !$0.isEmpty }, onText: emit)
            emit("\n")
            printErr(stats.summary)
        }
    }
}

/// `rwkv chat`: a conversation on one state.
struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat: each line on stdin is a user turn; the state is kept between turns.",
        discussion: "Turns use the `User: …\\n\\nAssistant:` format; only each new turn is processed. --reasoner uses the G1 models' think format (`Assistant: <think`). --state-in resumes a saved conversation, --state-out saves it at the end.")

    @OptionGroup var options: RunOptions
    @Flag(help: "G1 reasoning format: the assistant starts with <think.") var reasoner = false
    @Option(help: "Start from this saved state.") var stateIn: String?
    @Option(help: "Save the state here when the conversation ends.") var stateOut: String?
    @Option(help: "A first user message (then read stdin).") var message: String?

    func run() throws {
        try reportingErrors {
            let generator = try options.load()
            let hyperparameters = generator.session.model.hyperparameters
            if let stateIn { try generator.session.restore(try RWKV7State(contentsOf: stateIn, for: hyperparameters)) }
            let chat = ChatSession(generator: generator, reasoner: reasoner, maxTokens: options.n, continuing: stateIn != nil)
            let interactive = isatty(0) != 0
            var total = GenerationStats()
            func handle(_ line: String) throws {
                let message = line.trimmingCharacters(in: .whitespaces)
                guard !message.isEmpty else { return }
                emit("Assistant:")
                let (_, stats) = try chat.turn(message, onText: emit)
                emit("\n\n")
                total.promptTokens += stats.promptTokens
                total.prefillSeconds += stats.prefillSeconds
                total.generatedTokens += stats.generatedTokens
                total.decodeSeconds += stats.decodeSeconds
            }
            if let message { try handle(message) }
            var lineNumber = 0
            let input = fdopen(0, "r")
            while true {
                if interactive { emit("User: ") }
                lineNumber += 1
                guard let input, let line = try readUTF8Line(from: input, number: lineNumber) else { break }
                try handle(line)
            }
            if let stateOut { try generator.session.state.save(to: stateOut) }
            total.stopReason = .endOfInput
            printErr(total.summary)
        }
    }
}

/// One line of standard input (`input`) without its newline, nil at the end; a line that is not valid
/// UTF-8 is an error, never silently repaired.
func readUTF8Line(from input: UnsafeMutablePointer<FILE>, number: Int) throws -> String? {
    var buffer: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(buffer) }
    let length = getline(&buffer, &capacity, input)
    guard length >= 0, let buffer else { return nil }
    var bytes = UnsafeRawBufferPointer(start: buffer, count: length)
    if bytes.last == 0x0A { bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast()) }
    if bytes.last == 0x0D { bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast()) }
    guard let line = String(validating: bytes, as: UTF8.self) else { throw ExecutionError("standard input line \(number) is not valid UTF-8") }
    return line
}
