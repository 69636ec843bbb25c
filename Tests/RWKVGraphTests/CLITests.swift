import Benchmarks
import Foundation
import ModelFiles
import RWKVGraph
import Tensor
import Testing

/// The `rwkv` binary end to end (skipped when the test run did not build it).
@Suite struct CLITests {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rwkv")
    /// Whether this test run built the binary (`swift test` builds every product).
    static let hasBinary = FileManager.default.isExecutableFile(atPath: binary.path)

    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }

    /// `bench -m MODEL --json`: the schema other tools read.
    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func benchJSONSchema() throws {
        let result = try Self.run(["bench", "-m", Fixtures.path("random-rwkv7.pth"), "-p", "8", "-n", "4", "-r", "2", "-t", "1,2",
                                   "--type", "f32,q8_0", "--bandwidth-gib", "0.05", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["cpu"] is String && json["date"] is String)
        let bandwidth = try #require(json["readBandwidth"] as? [[String: Any]])
        #expect(bandwidth.map { $0["threads"] as? Int } == [1, 2] && bandwidth.allSatisfy { ($0["gigabytesPerSecond"] as? Double ?? 0) > 0 })
        let results = try #require(json["results"] as? [[String: Any]])
        #expect(results.count == 8)  // 2 types × 2 thread counts × (pp8, tg4)
        for row in results {
            for key in ["model", "type", "test"] { #expect(row[key] is String, "\(key)") }
            for key in ["sizeBytes", "parameters", "threads", "peakResidentBytes"] { #expect(row[key] is Int, "\(key)") }
            for key in ["mean", "stddev"] { #expect(row[key] is Double, "\(key)") }
            #expect((row["samples"] as? [Double])?.count == 2)
            let isDecode = (row["test"] as? String) == "tg4"
            #expect((row["gigabytesPerSecond"] is Double) == isDecode && (row["percentOfBandwidth"] is Double) == isDecode)
        }
        #expect(Set(results.compactMap { $0["test"] as? String }) == ["pp8", "tg4"])
        #expect(Set(results.compactMap { $0["type"] as? String }) == ["f32", "q8_0"])
    }

    /// An RWKV-7b file: `info` names the variant and its attention; `bench -d` runs each test after that many
    /// tokens of context (`tg4 @ d16`).
    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func attentionModelInfoAndBenchDepths() throws {
        let file = Fixtures.path("random-rwkv7b.st")
        let info = try Self.run(["info", file])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("model:       RWKV-7b (DeepEmbedAttention), 2 layers"))
        #expect(info.stdout.contains("attention:   DeepEmbedAttention, queries and keys of 256, compressed k/v of 32"))
        let bench = try Self.run(["bench", "-m", file, "-p", "8", "-n", "4", "-d", "0,16", "-r", "1", "-t", "1", "--bandwidth-gib", "0.05", "--json"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        let tests = (json["results"] as? [[String: Any]] ?? []).compactMap { $0["test"] as? String }
        #expect(tests == ["pp8", "tg4", "pp8 @ d16", "tg4 @ d16"])
        let bad = try Self.run(["bench", "-m", file, "-d", "2000000"])
        #expect(bad.status != 0 && bad.stderr.contains("depths"))
    }

    /// An RWKV-7b model end to end: converted to GGUF with a small World vocabulary, `generate` stops at
    /// `--ctx-limit` (reason "context limit"), a prompt longer than the limit is a one-line error, and `chat`
    /// saves a version-2 state that a second chat continues from.
    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func attentionModelGeneratesAndChatsWithinItsContext() throws {
        let scratch = try ScratchDirectory()
        var lines = (1...256).map { "\($0) b'\\x\(String(format: "%02x", $0 - 1))' 1" }
        for (i, (literal, length)) in [("the", 3), (" cat", 4), (" sat", 4), ("User", 4), ("Assistant", 9), (":", 1), ("\\n\\n", 2)].enumerated() {
            lines.append("\(257 + i) '\(literal)' \(length)")
        }
        try lines.joined(separator: "\n").write(toFile: scratch.path("vocab.txt"), atomically: true, encoding: .utf8)
        let model = scratch.path("dea.gguf")
        let convert = try Self.run(["convert", Fixtures.path("random-rwkv7b.st"), model, "--vocab", scratch.path("vocab.txt")])
        #expect(convert.status == 0, "\(convert.stderr)")
        let limited = try Self.run(["generate", "-m", model, "--prompt", "the cat sat", "-n", "50", "--ctx-limit", "8", "--ignore-eos", "-t", "2"])
        #expect(limited.status == 0 && limited.stderr.contains("generated 6 tokens") && limited.stderr.contains("(context limit)"), "\(limited.stderr)")
        let long = try Self.run(["generate", "-m", model, "--prompt", "the cat sat sat sat", "--ctx-limit", "4"])
        #expect(long.status == 1 && long.stderr.contains("the context limit of 4 tokens is reached: 0 in the state and 5 more given"), "\(long.stderr)")
        let first = try Self.run(["chat", "-m", model, "-n", "4", "--message", "the cat", "--state-out", scratch.path("a.state")])
        #expect(first.status == 0, "\(first.stderr)")
        let state = try Data(contentsOf: URL(fileURLWithPath: scratch.path("a.state")))
        #expect(state.prefix(12) == Data("RWKV7STATE\u{0}\u{2}".utf8))
        let second = try Self.run(["chat", "-m", model, "-n", "4", "--message", "sat", "--state-in", scratch.path("a.state")])
        #expect(second.status == 0, "\(second.stderr)")
        let tight = try Self.run(["chat", "-m", model, "-n", "4", "--message", "sat", "--state-in", scratch.path("a.state"), "--ctx-limit", "3"])
        #expect(tight.status == 1 && tight.stderr.contains("more than the context limit of 3"), "\(tight.stderr)")
    }

    @Test func procLinesParse() {
        #expect(SystemMemory.kilobytes(inLine: "VmHWM:\t11534336 kB") == 11_534_336)
        #expect(SystemMemory.kilobytes(inLine: "VmHWM:\t  782000 kB") == 782_000)
        #expect(SystemMemory.kilobytes(inLine: "MemAvailable:   23000000 kB") == 23_000_000)
        #expect(PeakMemory.current() > 0)
    }

    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func benchRefusesWhatWillNotFitAndBadArguments() throws {
        let bad = try Self.run(["bench", "--shape", "7b"])
        #expect(bad.status != 0 && bad.stderr.contains("--shape must be one of"))
        let none = try Self.run(["bench", "--shape", "0.1b", "-p", "0", "-n", "0"])
        #expect(none.status != 0)
        let missing = try Self.run(["bench", "-m", "/no/such.gguf"])
        #expect(missing.status == 1 && missing.stderr.contains("/no/such.gguf: cannot open"))
        // 13.3B at f32 is 53 GB of weights: refused before anything is allocated, naming both sizes.
        if let available = SystemMemory.availableBytes(), available < 50_000_000_000 {
            let huge = try Self.run(["bench", "--shape", "13.3b", "--type", "f32", "-t", "1"])
            #expect(huge.status == 1 && huge.stderr.contains("RWKV-7 13.3B at f32 needs about") && huge.stderr.contains("of memory is available"),
                    "\(huge.stderr)")
        }
        let loadWithoutFile = try Self.run(["bench", "--shape", "0.1b", "--load"])
        #expect(loadWithoutFile.status != 0 && loadWithoutFile.stderr.contains("--load needs -m MODEL"))
    }

    /// `bench --load`: a warm and a cold row per thread count, with load, first-token and total times.
    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func benchLoadReportsWarmAndColdLoads() throws {
        let result = try Self.run(["bench", "-m", Fixtures.path("random-rwkv7.pth"), "--load", "-t", "1,2", "-r", "1", "--first-token-prompt", "8", "--csv"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "model,type,threads,cache,cached_fraction,load_ms,first_token_ms,total_ms,peak_rss_bytes")
        let rows = lines.dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.map { "\($0[2]) \($0[3])" } == ["1 warm", "1 cold", "2 warm", "2 cold"])
        for row in rows {
            let load = Double(row[5]) ?? -1, first = Double(row[6]) ?? -1, total = Double(row[7]) ?? -1
            #expect(load > 0 && first > 0 && abs(total - (load + first)) < 0.5 && (Int(row[8]) ?? 0) > 0, "\(row)")
            #expect(row[3] == "cold" || Double(row[4])! > 0.9, "a warm load found the file uncached: \(row)")
        }
    }

    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func logitsCommandWritesADump() throws {
        let scratch = try ScratchDirectory()
        let out = scratch.path("d.safetensors")
        let result = try Self.run(["logits", "-m", Fixtures.path("random-rwkv7.pth"), "--tokens", "1 2 3", "-o", out, "--type", "q8_0", "-t", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        let dump = try LogitsDump.read(out)
        #expect(dump.tokens == [1, 2, 3] && dump.vocabularySize == 2048)
        let badToken = try Self.run(["logits", "-m", Fixtures.path("random-rwkv7.pth"), "--tokens", "1 2048", "-o", out])
        #expect(badToken.status == 1 && badToken.stderr.contains("2048"))
    }

    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func generateBadInputs() throws {
        let model = Fixtures.path("random-rwkv7.pth")
        let noVocab = try Self.run(["generate", "-m", model, "-p", "hi"])
        #expect(noVocab.status == 1 && noVocab.stderr.contains("no vocabulary") && noVocab.stderr.contains("--vocab"))
        let badN = try Self.run(["generate", "-m", model, "-p", "hi", "-n", "0"])
        #expect(badN.status != 0 && badN.stderr.contains("-n must be"))
    }

    @Test(.enabled(if: hasBinary && Fixtures.hasShared("tiny-rwkv-7v0-834K-FP32.bin"), "needs the rwkv binary and ../shared/models"))
    func generateOnTheTinyModel() throws {
        let tiny = Fixtures.shared("tiny-rwkv-7v0-834K-FP32.bin")!
        let empty = try Self.run(["generate", "-m", tiny, "-p", ""])
        #expect(empty.status == 1 && empty.stderr.contains("tokenizes to nothing"))
        let ok = try Self.run(["generate", "-m", tiny, "-p", "The ", "-n", "20", "--temperature", "0"])
        #expect(ok.status == 0 && ok.stdout.hasPrefix("The ") && ok.stderr.contains("generated 20 tokens"))
        // --ignore-eos: every seed runs to -n (without it, some of these end at the end-of-text token).
        for seed in 1...3 {
            let unending = try Self.run(["generate", "-m", tiny, "-p", "The ", "-n", "300", "--seed", "\(seed)", "--ignore-eos"])
            #expect(unending.status == 0 && unending.stderr.contains("generated 300 tokens"), "\(unending.stderr)")
        }
    }

    /// Converting or quantizing a GGUF keeps its tokenizer (llama.cpp cannot load an rwkv7 file without one).
    @Test(.enabled(if: hasBinary && Fixtures.hasShared("rwkv_vocab_v20230424.txt"), "needs the rwkv binary and ../shared/models"))
    func conversionsKeepTheTokenizer() throws {
        let scratch = try ScratchDirectory()
        let h = RWKV7Hyperparameters(vocabularySize: 65536, embedding: 64, layers: 1, headSize: 64, decayRank: 8, iclrRank: 8,
                                     valueRank: 8, gateRank: 8, ffnSize: 128)
        let vocabulary = try WorldVocabulary(contentsOf: Fixtures.shared("rwkv_vocab_v20230424.txt")!)
        try RWKV7GGUF.writer(for: try RandomModel.make(h, plan: QuantizationPlan(.f32)), name: "v", vocabulary: vocabulary).write(to: scratch.path("v.gguf"))
        for (command, extra) in [("convert", ["--type", "f16"]), ("quantize", ["--type", "q4_k_m"])] {
            let result = try Self.run([command, scratch.path("v.gguf"), scratch.path("\(command).gguf")] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            let gguf = try #require(try Checkpoint.open(scratch.path("\(command).gguf")).gguf)
            #expect(gguf["tokenizer.ggml.model"]?.string == "rwkv", "\(command)")
            #expect(WorldVocabulary(gguf: gguf)?.modelSize == vocabulary.modelSize, "\(command)")
        }
    }

    /// `perplexity`: a table, `--json`, a dump saved and used as the base (no divergence from itself), and
    /// clear errors for a missing text, a text shorter than a chunk and a dump of other tokens.
    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func perplexityCommand() throws {
        let scratch = try ScratchDirectory()
        let text = String(repeating: "Once upon a time, a small cat named Tom found a blue box in the garden. Tom felt happy. ", count: 12)
        try Data(text.utf8).write(to: URL(fileURLWithPath: scratch.path("t.txt")))
        let model = Fixtures.projectModel
        let plain = try Self.run(["perplexity", "-m", model, "-f", scratch.path("t.txt"), "--ctx", "128"])
        #expect(plain.status == 0 && plain.stdout.contains("| rwkv7-tiny-stories | f32  | 128 |") && plain.stdout.contains("PPL"), "\(plain.stderr)")
        let saved = try Self.run(["perplexity", "-m", model, "-f", scratch.path("t.txt"), "--ctx", "128", "--save-logits", scratch.path("base.st")])
        #expect(saved.status == 0, "\(saved.stderr)")
        let json = try Self.run(["perplexity", "-m", model, "-f", scratch.path("t.txt"), "--ctx", "128", "--base", scratch.path("base.st"), "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let report = try #require(object["report"] as? [String: Any]), base = try #require(report["base"] as? [String: Any])
        #expect(report["chunks"] as? Int == text.utf8.count / 128 && report["scoredTokens"] as? Int == text.utf8.count / 128 * 63)
        #expect(base["meanKL"] as? Double == 0 && base["sameTop"] as? Double == 1 && base["perplexity"] as? Double == report["perplexity"] as? Double)
        let missing = try Self.run(["perplexity", "-m", model, "-f", scratch.path("none.txt")])
        #expect(missing.status == 1 && missing.stderr.contains("none.txt: cannot read the text file"))
        let short = try Self.run(["perplexity", "-m", model, "-f", scratch.path("t.txt"), "--ctx", "4096"])
        #expect(short.status == 1 && short.stderr.contains("fewer than one chunk of 4096"))
        let other = try Self.run(["perplexity", "-m", model, "-f", scratch.path("t.txt"), "--ctx", "64", "--base", scratch.path("base.st")])
        #expect(other.status == 1 && other.stderr.contains("the dump is not of this text's scored tokens"))
    }

    /// A chat driven through a pipe keeps its state across turns and saves it.
    @Test(.enabled(if: hasBinary && Fixtures.hasShared("tiny-rwkv-7v0-834K-FP32.bin"), "needs the rwkv binary and ../shared/models"))
    func chatThroughAPipe() throws {
        let tiny = Fixtures.shared("tiny-rwkv-7v0-834K-FP32.bin")!
        let scratch = try ScratchDirectory()
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["chat", "-m", tiny, "-n", "16", "--state-out", scratch.path("c.state"), "--temperature", "0"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data("Hello there\nWhat is your name?\n".utf8))
        try input.fileHandleForWriting.close()
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(stdout.components(separatedBy: "Assistant:").count == 3)
        #expect(FileManager.default.fileExists(atPath: scratch.path("c.state")))
    }

    /// Runs `rwkv` through `sh` so arguments and standard input can hold bytes that are not UTF-8.
    static func runShell(_ script: String, input: [UInt8] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, binary.path, Fixtures.projectModel]
        let stdin = Pipe(), out = Pipe(), err = Pipe()
        process.standardInput = stdin
        process.standardOutput = out
        process.standardError = err
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }

    /// Bytes that are not UTF-8 are refused, never replaced by U+FFFD; a negative token id is a value.
    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"))
    func invalidTextAndNegativeTokensAreRefused() throws {
        let scratch = try ScratchDirectory()
        let out = scratch.path("d.safetensors")
        let text = try Self.runShell(#""$0" logits -m "$1" --text "$(printf 'a\377b')" -o \#(out)"#)
        #expect(text.status == 2 && text.stderr.contains("the value of --text is not valid UTF-8"), "\(text.stderr)")
        let prompt = try Self.runShell(#""$0" generate -m "$1" -p="$(printf '\300\200')""#)
        #expect(prompt.status == 2 && prompt.stderr.contains("the value of -p is not valid UTF-8"), "\(prompt.stderr)")
        let chat = try Self.runShell(#""$0" chat -m "$1" -n 4"#, input: Array("Hi\n".utf8) + [0xFF, 0x0A])
        #expect(chat.status == 1 && chat.stderr.contains("standard input line 2 is not valid UTF-8"), "\(chat.stderr)")
        #expect(chat.stdout.components(separatedBy: "Assistant:").count == 2)
        let negative = try Self.run(["logits", "-m", Fixtures.projectModel, "--tokens", "-1", "-o", out])
        #expect(negative.status == 1 && negative.stderr.contains("'-1' is not a token id of this model (0..<256)"), "\(negative.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let valid = try Self.runShell(#""$0" logits -m "$1" --text "$(printf 'h\303\251')" -o \#(out)"#)
        #expect(valid.status == 0, "\(valid.stderr)")
        #expect(try LogitsDump.read(out).tokens == [104, 0xC3, 0xA9])
    }

    /// Every writer puts its output under a temporary name and renames it at the end. A full disk midway (a
    /// file-size limit with SIGXFSZ ignored: the write fails with EFBIG) is a clean error that removes the
    /// temporary file; a kill midway (the same limit's SIGXFSZ, which ends the process on the spot) leaves
    /// its `.partial-PID` behind. Either way the old file keeps its bytes.
    /// (Not under ThreadSanitizer, whose runtime dies of SIGBUS in its shadow memory under a file-size limit,
    /// in a libdispatch thread before our code runs; `tools/sanitize.sh` sets RWKV_SANITIZER.)
    @Test(.enabled(if: hasBinary, "needs the rwkv binary of this build"),
          .disabled(if: ProcessInfo.processInfo.environment["RWKV_SANITIZER"] == "thread", "ThreadSanitizer's runtime dies under a file-size limit"))
    func interruptedWritesLeaveTheOldFileIntact() throws {
        let scratch = try ScratchDirectory()
        let old = Data("the previous contents".utf8)
        let text = String(repeating: "Once upon a time there was a rabbit. ", count: 8)
        let commands = [("out.gguf", #"quantize "$1" OUT --type q8_0"#), ("out.gguf", #"convert "$1" OUT --type f16"#),
                        ("out.safetensors", #"logits -m "$1" --text "\#(text)" -o OUT"#),
                        ("out.state", #"chat -m "$1" -n 4 --message hi --state-out OUT"#)]
        for (name, command) in commands {
            let out = scratch.path(name)
            let invocation = "exec \"$0\" " + command.replacingOccurrences(of: "OUT", with: "'\(out)'") + " </dev/null"
            try old.write(to: URL(fileURLWithPath: out))
            // 16 blocks of 512 bytes: every one of these outputs is larger.
            let full = try Self.runShell("trap '' XFSZ; ulimit -f 16; " + invocation)
            #expect(full.status == 1 && full.stderr.contains(out) && !full.stderr.contains("\n\n"), "\(command): \(full.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == old, "\(command) under a full disk")
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path) == [name], "\(command) left a temporary file")
            let killed = try Self.runShell("ulimit -f 16; " + invocation)
            #expect(killed.status != 0, "\(command) was not stopped")
            #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == old, "\(command) killed midway")
            for leftover in try FileManager.default.contentsOfDirectory(atPath: scratch.url.path) where leftover != name {
                #expect(leftover.hasPrefix(name + ".partial-"), "\(leftover)")
                try FileManager.default.removeItem(atPath: scratch.path(leftover))
            }
            // Without a limit the same command replaces the file.
            let done = try Self.runShell(invocation)
            let replaced = try Data(contentsOf: URL(fileURLWithPath: out))
            #expect(done.status == 0 && replaced != old, "\(command): \(done.stderr)")
            try FileManager.default.removeItem(atPath: out)
        }
    }
}
