import ArgumentParser
import Foundation
import ModelFiles
import RWKVGraph
import Tensor

/// `rwkv logits`: run a model over tokens and dump every position's logits.
struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Write the logits of every position to a safetensors dump (tokens I32 [T], logits F32 [T, V]).")

    @Option(name: .shortAndLong, help: "Model file (GGUF, .pth, .safetensors/.st or rwkv.cpp .bin).") var model: String
    @Option(parsing: .unconditional, help: "Token ids, separated by spaces or commas.") var tokens: String?
    @Option(help: "Text: bytes as token ids for a byte-level (256-token) model; the World tokenizer otherwise.") var text: String?
    @Option(help: "World vocabulary file, for --text with a model file that has none.") var vocab: String?
    @Option(name: .shortAndLong, help: "Output dump (.safetensors).") var output: String
    @Option(name: [.short, .customLong("threads")], help: "Threads.") var threads = 1
    @Option(help: "Tokens per prefill call (1 = token by token).") var chunk = 512
    /// Run at this precision: weights converted at load as `rwkv quantize` converts them.
    @OptionGroup var precision: PrecisionOptions

    func validate() throws {
        guard (tokens == nil) != (text == nil) else { throw ValidationError("give exactly one of --tokens and --text") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1…1024") }
        guard chunk >= 1 else { throw ValidationError("--chunk must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let checkpoint = try Checkpoint.open(model)
            let rwkv = try RWKV7Model(try RWKV7Weights(checkpoint).converted(toRunAt: try precision.plan()))
            let ids = try tokenIDs(checkpoint: checkpoint, vocabularySize: rwkv.hyperparameters.vocabularySize)
            // An RWKV-7b context holds every token given.
            let session = try RWKV7Session(model: rwkv, threads: threads, contextLimit: max(RWKV7Session.defaultContextLimit, ids.count))
            let logits = try session.process(ids, chunk: chunk, allLogits: true)
            try LogitsDump(tokens: ids, vocabularySize: rwkv.hyperparameters.vocabularySize, logits: logits.flatMap { $0 }).write(to: output)
            printErr("\(output): logits of \(ids.count) tokens × \(rwkv.hyperparameters.vocabularySize)")
        }
    }

    func tokenIDs(checkpoint: Checkpoint, vocabularySize: Int) throws -> [Int32] {
        if let tokens {
            let parts = tokens.split { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" }
            let ids = try parts.map { part -> Int32 in
                guard let id = Int32(part), id >= 0, Int(id) < vocabularySize else {
                    throw ExecutionError("--tokens: '\(part)' is not a token id of this model (0..<\(vocabularySize))")
                }
                return id
            }
            guard !ids.isEmpty else { throw ExecutionError("--tokens: no token ids given") }
            return ids
        }
        let bytes = Array(text!.utf8)
        guard !bytes.isEmpty else { throw ExecutionError("--text is empty") }
        return try TextCodec.forModel(checkpoint, vocabularySize: vocabularySize, vocabularyPath: vocab).encode(bytes)
    }
}

/// `rwkv compare`: how far a candidate dump is from a reference dump.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two logits dumps: max |Δ|, RMS Δ, mean KL(ref‖cand), top-1 agreement.",
        discussion: "Exit status: 0 when every given bound holds, 1 when one is broken, 2 when a dump is missing or malformed.")

    @Argument(help: "Reference dump.") var reference: String
    @Argument(help: "Candidate dump.") var candidate: String
    @Option(help: "Largest allowed max |Δ|.") var maxAbs: Double?
    @Option(help: "Largest allowed mean KL(ref‖cand), nats.") var maxKl: Double?
    @Option(help: "Smallest allowed top-1 agreement, 0…1.") var minTop1: Double?

    func run() throws {
        let comparison: LogitsComparison
        do {
            comparison = try LogitsComparison(reference: try LogitsDump.read(reference), candidate: try LogitsDump.read(candidate))
        } catch {
            printErr("error: \(error)")
            throw ExitCode(2)
        }
        var broken = false
        func line(_ name: String, _ value: Double, _ bound: Double?, _ holds: (Double, Double) -> Bool, _ digits: String) {
            var text = "\(name) \(String(format: digits, value))"
            if let bound {
                let ok = holds(value, bound)
                broken = broken || !ok
                text += ok ? "  (ok, bound \(bound))" : "  (FAIL, bound \(bound))"
            }
            print(text)
        }
        line("max_abs_diff", comparison.maxAbsDifference, maxAbs, <=, "%.6e")
        line("rms_diff    ", comparison.rmsDifference, nil, <=, "%.6e")
        line("mean_kl     ", comparison.meanKL, maxKl, <=, "%.6e")
        line("top1_agree  ", comparison.top1Agreement, minTop1, >=, "%.6f")
        if broken { throw ExitCode(1) }
    }
}
