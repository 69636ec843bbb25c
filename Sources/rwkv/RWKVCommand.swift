import ArgumentParser
import Tensor

/// `rwkv`: quantize, run, compare and benchmark RWKV-7 models on the CPU.
@main
struct RWKVCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rwkv",
        abstract: "RWKV-7 on the CPU at a chosen precision (f32, f16, q8_0, q4_0).",
        subcommands: [GenerateCommand.self, ChatCommand.self, ConvertCommand.self, QuantizeCommand.self, InfoCommand.self, LogitsCommand.self, CompareCommand.self, BenchCommand.self]
    )
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

extension DType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension ThreadBackend: ExpressibleByArgument {}
