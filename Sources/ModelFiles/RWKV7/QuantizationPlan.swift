import Tensor

/// A file type as llama-quantize names it (`q4_k_m`, `q5_1`, `f16`, …): the type its quantizable tensors
/// get and the `general.file_type` it writes.
public struct QuantizationRecipe: Sendable, Equatable, CustomStringConvertible {
    /// The name `--type` takes (lower case).
    public let name: String
    /// The type of the quantizable tensors before the per-tensor rules (``QuantizationPlan``).
    public let type: DType
    /// llama.cpp's `llama_ftype`.
    public let fileType: UInt32

    public var description: String { name }

    /// llama-quantize's file types that differ from a plain type: the K-quant mixtures. For rwkv7 the
    /// `_s`/`_m`/`_l` variants give the same tensor types (their extra bits go to attention-v and ffn_down
    /// tensors, which rwkv7 does not have) and differ in `general.file_type` only, as llama-quantize writes.
    static let mixtures: [QuantizationRecipe] = [
        QuantizationRecipe(name: "q3_k_s", type: .q3_K, fileType: 11), QuantizationRecipe(name: "q3_k_m", type: .q3_K, fileType: 12),
        QuantizationRecipe(name: "q3_k_l", type: .q3_K, fileType: 13),
        QuantizationRecipe(name: "q4_k_s", type: .q4_K, fileType: 14), QuantizationRecipe(name: "q4_k_m", type: .q4_K, fileType: 15),
        QuantizationRecipe(name: "q5_k_s", type: .q5_K, fileType: 16), QuantizationRecipe(name: "q5_k_m", type: .q5_K, fileType: 17),
    ]

    /// llama-quantize's aliases: `q3_k`, `q4_k` and `q5_k` are the `_m` mixtures.
    static let aliases = ["q3_k": "q3_k_m", "q4_k": "q4_k_m", "q5_k": "q5_k_m"]

    /// Every recipe: each producible type under its own name (q2_K and q6_K are llama-quantize's `q2_k`
    /// and `q6_k`), then the mixtures.
    public static var all: [QuantizationRecipe] {
        DType.producible.filter { !mixtures.map(\.type).contains($0) }.map {
            QuantizationRecipe(name: $0.description.lowercased(), type: $0, fileType: $0.traits.llamaFileType ?? 0)
        } + mixtures
    }

    /// The recipe named `name` (case-insensitive; aliases accepted).
    public init?(name: String) {
        let key = name.lowercased()
        guard let recipe = Self.all.first(where: { $0.name == (Self.aliases[key] ?? key) }) else { return nil }
        self = recipe
    }

    init(name: String, type: DType, fileType: UInt32) {
        self.name = name
        self.type = type
        self.fileType = fileType
    }
}

/// Which type each tensor of an RWKV-7 model gets when quantized (`rwkv quantize`) or run at a precision
/// (`--type`), as llama-quantize chooses for rwkv7:
/// - only the embedding, the head and the six projections per layer are quantized (``RWKV7Tensor/Role``);
/// - a `--tensor-type PATTERN=TYPE` override whose regular expression matches the GGUF name wins (the
///   first one that matches);
/// - otherwise the head of a quantized recipe is Q6_K (Q8_0 for a Q8_0 recipe, or when its rows are not a
///   whole number of the recipe's blocks), unless `pure`;
/// - a type whose blocks do not fit the rows falls back (``DType/fitting(columns:)``).
///
/// Layers can take different recipes, as the `rwkv` pip package's strategies do: `q8_0 *4 -> q4_k_m` puts
/// layers 0–3 in Q8_0 and the rest in Q4_K_M. The embedding follows the first recipe, the head the last.
public struct QuantizationPlan: Sendable, Equatable, CustomStringConvertible {
    /// A recipe for a run of layers (nil: every remaining layer).
    public struct Segment: Sendable, Equatable {
        public var recipe: QuantizationRecipe
        public var layers: Int?
    }

    /// A `PATTERN=TYPE` override.
    public struct Override: Sendable, Equatable {
        /// A regular expression searched for in the GGUF name.
        public let pattern: String
        public let type: DType
    }

    public var segments: [Segment]
    public var overrides: [Override] = []
    /// Skip the head rule (llama-quantize's `--pure`).
    public var pure = false

    /// Every quantizable tensor in `recipe`'s type.
    public init(_ recipe: QuantizationRecipe) { segments = [Segment(recipe: recipe, layers: nil)] }

    /// The plan of a plain type (its recipe).
    public init(_ type: DType) {
        self.init(QuantizationRecipe(name: type.description.lowercased(), type: type, fileType: type.traits.llamaFileType ?? 0))
    }

    /// Parses `RECIPE` or `RECIPE *N -> … -> RECIPE`; throws a message naming what is wrong.
    public init(parsing text: String) throws(ModelFileError) {
        let parts = text.split(separator: "->", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        var segments: [Segment] = []
        for (index, part) in parts.enumerated() {
            let fields = part.split(separator: "*", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
            guard fields.count <= 2, let recipe = QuantizationRecipe(name: fields[0]) else {
                throw ModelFileError("--type", "'\(part)' is not a type (one of \(QuantizationRecipe.all.map(\.name).joined(separator: ", ")), optionally '*LAYERS')")
            }
            var layers: Int? = nil
            if fields.count == 2 {
                guard let count = Int(fields[1]), count > 0 else { throw ModelFileError("--type", "'*\(fields[1])' is not a positive layer count") }
                layers = count
            }
            if index < parts.count - 1 && layers == nil {
                throw ModelFileError("--type", "'\(part)' must say how many layers it covers ('\(fields[0]) *N') when another type follows")
            }
            segments.append(Segment(recipe: recipe, layers: layers))
        }
        self.segments = segments
    }

    /// Adds `PATTERN=TYPE` overrides (llama-quantize's `--tensor-type`).
    public mutating func addOverride(_ text: String) throws(ModelFileError) {
        guard let equals = text.lastIndex(of: "=") else { throw ModelFileError("--tensor-type", "'\(text)' is not PATTERN=TYPE") }
        let pattern = String(text[..<equals]), typeName = String(text[text.index(after: equals)...])
        guard !pattern.isEmpty, (try? Regex(pattern)) != nil else { throw ModelFileError("--tensor-type", "'\(pattern)' is not a regular expression") }
        guard let type = DType(name: typeName), type.isProducible else {
            throw ModelFileError("--tensor-type", "'\(typeName)' is not a type (one of \(DType.producible.map(\.description).joined(separator: ", ")))")
        }
        overrides.append(Override(pattern: pattern, type: type))
    }

    public var description: String {
        segments.map { $0.recipe.name + ($0.layers.map { " *\($0)" } ?? "") }.joined(separator: " -> ")
    }

    /// The recipe of the last segment: the file's `general.file_type`, the head's recipe.
    public var mainRecipe: QuantizationRecipe { segments[segments.count - 1].recipe }

    /// The recipe of layer `layer` (nil: the embedding, which follows the first).
    public func recipe(forLayer layer: Int?) -> QuantizationRecipe {
        guard let layer else { return segments[0].recipe }
        var first = 0
        for segment in segments {
            guard let count = segment.layers else { return segment.recipe }
            if layer < first + count { return segment.recipe }
            first += count
        }
        return mainRecipe
    }

    /// The type quantization gives tensor `kind` of `layer` (GGUF name `name`, GGUF shape `shape`) that is
    /// `current` now.
    public func type(of kind: RWKV7Tensor, layer: Int?, name: String, shape: Shape, current: DType) -> DType {
        guard kind.declaration.role == .projection else { return current }
        let recipe = kind == .head ? mainRecipe : recipe(forLayer: layer)
        guard recipe.type.isQuantized else { return recipe.type }
        let columns = shape[0]
        var type = recipe.type
        if let override = overrides.first(where: { (try? Regex($0.pattern)).map { name.contains($0) } ?? false }) {
            type = override.type
        } else if kind == .head && !pure {
            type = columns % recipe.type.blockSize != 0 || recipe.type == .q8_0 ? .q8_0 : .q6_K
        }
        return type.fitting(columns: columns)
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
