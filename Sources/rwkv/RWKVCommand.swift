import ArgumentParser
import Foundation
import Tensor

/// `rwkv`: quantize, run, compare and benchmark RWKV-7 models on the CPU.
@main
struct RWKVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rwkv",
        abstract: "RWKV-7 on the CPU at a chosen precision.",
        subcommands: [GenerateCommand.self, ChatCommand.self, ConvertCommand.self, QuantizeCommand.self, InfoCommand.self, LogitsCommand.self, CompareCommand.self, PerplexityCommand.self, BenchCommand.self, ServeCommand.self]
    )

    /// Refuses an argument that is not valid UTF-8 (Swift would silently replace each bad byte by U+FFFD),
    /// then parses and runs the command.
    static func main() async {
        let arguments = (0..<Int(CommandLine.argc)).map { CommandLine.unsafeArgv[$0] }
        if let problem = invalidUTF8Argument(arguments.map { $0.map { UnsafePointer($0) } }) {
            printErr("error: \(problem)")
            Foundation.exit(2)
        }
        if let problem = KernelLevel.environmentProblem { printErr("warning: \(problem)") }
        await main(nil)
    }
}

/// Which argument (named by its option, where it belongs to one) is not valid UTF-8, if any.
func invalidUTF8Argument(_ argv: [UnsafePointer<CChar>?]) -> String? {
    for index in argv.indices.dropFirst() {
        guard let raw = argv[index], String(validatingCString: raw) == nil else { continue }
        let text = String(decoding: UnsafeRawBufferPointer(start: raw, count: strlen(raw)), as: UTF8.self)
        if text.hasPrefix("-"), let equals = text.firstIndex(of: "=") {
            return "the value of \(text[..<equals]) is not valid UTF-8"
        }
        if index > 1, let previous = argv[index - 1].flatMap({ String(validatingCString: $0) }), previous.hasPrefix("-") {
            return "the value of \(previous) is not valid UTF-8"
        }
        return "argument \(index) is not valid UTF-8"
    }
    return nil
}
/// A comma-separated list such as `1,2,4` or `f32,q8_0`.
struct CommaList<Element: ExpressibleByArgument>: ExpressibleByArgument {
    let values: [Element]

    init(_ values: [Element]) { self.values = values }

    init?(argument: String) {
        var parsed: [Element] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Element(argument: String(part.filter { !$0.isWhitespace })) else { return nil }
            parsed.append(value)
        }
        guard !parsed.isEmpty else { return nil }
        values = parsed
    }

    var defaultValueDescription: String { values.map { "\($0)" }.joined(separator: ",") }
}


