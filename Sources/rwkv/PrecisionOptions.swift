import ArgumentParser
import ModelFiles
import Tensor

/// Parses `--type`'s value (``QuantizationPlan/init(parsing:)``); the error says what is wrong and lists the types.
func parsePlan(_ text: String) throws -> QuantizationPlan {
    do { return try QuantizationPlan(parsing: text) } catch { throw ValidationError(error.problem) }
}

/// A comma-separated list of plans (`bench --type`).
func parsePlans(_ text: String) throws -> [QuantizationPlan] {
    try text.split(separator: ",").map { try parsePlan(String($0)) }
}

/// `--type`, `--tensor-type` and `--pure`: the precision a command writes or runs at (llama-quantize's
/// choices for rwkv7, docs/cli.md).
struct PrecisionOptions: ParsableArguments {
    @Option(name: .customLong("type"),
            help: ArgumentHelp("Type of the quantizable tensors: a llama-quantize file type (\(QuantizationRecipe.all.map(\.name).joined(separator: ", "))), or one per run of layers ('q8_0 *4 -> q4_k_m').",
                               valueName: "type"), transform: parsePlan)
    var type: QuantizationPlan?

    @Option(name: .customLong("tensor-type"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("PATTERN=TYPE: tensors whose GGUF name matches the regular expression get TYPE (repeatable; the first match wins).",
                               valueName: "pattern=type"))
    var tensorTypes: [String] = []

    @Flag(help: "No per-tensor rules: the head gets --type too (llama-quantize's --pure).")
    var pure = false

    func validate() throws {
        if type == nil && (!tensorTypes.isEmpty || pure) { throw ValidationError("--tensor-type and --pure need --type") }
        _ = try plan()
    }

    /// The plan, nil without `--type`.
    func plan() throws -> QuantizationPlan? {
        guard var plan = type else { return nil }
        plan.pure = pure
        for text in tensorTypes {
            do { try plan.addOverride(text) } catch { throw ValidationError("\(error)") }
        }
        return plan
    }
}
