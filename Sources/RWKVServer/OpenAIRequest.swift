import Foundation
import RWKVGraph

/// A parsed `POST /v1/completions` or `/v1/chat/completions` body: every field checked, each error naming
/// the field (OpenAI's `param`).
public struct OpenAIRequest: Sendable {
    public enum Input: Sendable, Equatable {
        /// A completion prompt: text, or token ids.
        case text(String)
        case tokens([Int32])
        /// A chat.
        case messages([ChatMessage])
    }

    public var model: String?
    public var input: Input
    public var maxTokens: Int?
    public var sampler = SamplerSettings()
    /// Whether `seed` was given (else each request draws its own).
    public var seeded = false
    public var stops: [String] = []
    public var stream = false
    /// Chat only: the G1 reasoning format (`Assistant: <think`).
    public var reasoner: Bool?

    /// Parses a request body; `chat` picks the endpoint's fields (`messages` or `prompt`).
    public init(body: [UInt8], chat: Bool) throws(ServerError) {
        guard String(validating: body, as: UTF8.self) != nil else { throw ServerError(400, "the request body is not valid UTF-8") }
        let parsed: JSONValue
        do {
            parsed = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch {
            throw ServerError(400, "the request body is not valid JSON")
        }
        guard case .object(let object) = parsed else { throw ServerError(400, "the request body must be a JSON object") }
        let fields = Fields(object)
        model = try fields.string("model")
        if chat {
            guard let messages = fields.value("messages") else { throw ServerError(400, "'messages' is required", param: "messages") }
            input = .messages(try Self.messages(messages))
            maxTokens = try fields.integer("max_completion_tokens", 1...)
            if maxTokens == nil { maxTokens = try fields.integer("max_tokens", 1...) }
            reasoner = try fields.bool("reasoner")
        } else {
            guard let prompt = fields.value("prompt") else { throw ServerError(400, "'prompt' is required", param: "prompt") }
            input = try Self.prompt(prompt)
            maxTokens = try fields.integer("max_tokens", 1...)
        }
        if let value = try fields.number("temperature", 0...2) { sampler.temperature = Float(value) }
        if let value = try fields.number("top_p", 0...1) { sampler.topP = Float(value) }
        if let value = try fields.integer("top_k", 0...) { sampler.topK = value }
        if let value = try fields.number("presence_penalty", -2...2) { sampler.presencePenalty = Float(value) }
        if let value = try fields.number("frequency_penalty", -2...2) { sampler.frequencyPenalty = Float(value) }
        if let value = try fields.number("penalty_decay", 0...1) { sampler.penaltyDecay = Float(value) }
        if let value = try fields.integer("seed", Int.min...) {
            sampler.seed = UInt64(bitPattern: Int64(value))
            seeded = true
        }
        sampler.bansEndOfText = try fields.bool("ignore_eos") ?? false
        if let n = try fields.integer("n", Int.min...), n != 1 { throw ServerError(400, "only n = 1 is supported", param: "n") }
        stream = try fields.bool("stream") ?? false
        stops = try Self.stops(fields.value("stop"))
    }

    static func prompt(_ value: JSONValue) throws(ServerError) -> Input {
        if case .string(let text) = value { return .text(text) }
        if case .array(let list) = value, !list.isEmpty {
            if list.count == 1, case .string(let text) = list[0] { return .text(text) }
            let ids = list.compactMap { $0.integer.flatMap { Int32(exactly: $0) } }
            if ids.count == list.count { return .tokens(ids) }
        }
        throw ServerError(400, "'prompt' must be a string, a list of one string, or a list of token ids", param: "prompt")
    }

    static func messages(_ value: JSONValue) throws(ServerError) -> [ChatMessage] {
        guard case .array(let list) = value else { throw ServerError(400, "'messages' must be a list", param: "messages") }
        guard !list.isEmpty else { throw ServerError(400, "'messages' must not be empty", param: "messages") }
        return try list.enumerated().map { (index, item) throws(ServerError) -> ChatMessage in
            let param = "messages[\(index)]"
            guard case .object(let message) = item else { throw ServerError(400, "'\(param)' must be an object", param: param) }
            guard case .string(let role) = message["role"] else { throw ServerError(400, "'\(param).role' must be a string", param: "\(param).role") }
            guard ["system", "user", "assistant", "developer"].contains(role) else {
                throw ServerError(400, "'\(param).role' must be system, user or assistant, not '\(role)'", param: "\(param).role")
            }
            let name = role == "developer" ? "system" : role
            switch message["content"] {
            case .string(let text): return ChatMessage(role: name, content: text)
            case .array(let parts):
                var text = ""
                for part in parts {
                    guard case .object(let fields) = part, fields["type"] == .string("text"), case .string(let piece) = fields["text"] else {
                        throw ServerError(400, "'\(param).content' parts must be {\"type\": \"text\", \"text\": …}", param: "\(param).content")
                    }
                    text += piece
                }
                return ChatMessage(role: name, content: text)
            default:
                throw ServerError(400, "'\(param).content' must be a string or a list of text parts", param: "\(param).content")
            }
        }
    }

    static func stops(_ value: JSONValue?) throws(ServerError) -> [String] {
        guard let value else { return [] }
        let items: [JSONValue]
        if case .array(let many) = value { items = many } else { items = [value] }
        let list = items.compactMap { if case .string(let text) = $0 { text } else { nil } }
        guard list.count == items.count else { throw ServerError(400, "'stop' must be a string or a list of strings", param: "stop") }
        guard list.count <= 16 else { throw ServerError(400, "'stop' takes at most 16 strings", param: "stop") }
        guard list.allSatisfy({ !$0.isEmpty }) else { throw ServerError(400, "'stop' strings must not be empty", param: "stop") }
        return list
    }
}

/// A JSON value, decoded strictly (a boolean is never a number).
public enum JSONValue: Decodable, Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    /// The value as an integer, if it is a whole number in range.
    var integer: Int? {
        guard case .number(let x) = self, x.rounded() == x, abs(x) < 9.2e18 else { return nil }
        return Int(x)
    }
}

/// Typed access to a JSON object's optional fields; a present field of the wrong type or range is an error
/// naming it (`null` counts as absent).
struct Fields {
    let object: [String: JSONValue]
    init(_ object: [String: JSONValue]) { self.object = object }

    func value(_ name: String) -> JSONValue? {
        guard let value = object[name], value != .null else { return nil }
        return value
    }

    func string(_ name: String) throws(ServerError) -> String? {
        guard let value = value(name) else { return nil }
        guard case .string(let text) = value else { throw ServerError(400, "'\(name)' must be a string", param: name) }
        return text
    }

    func bool(_ name: String) throws(ServerError) -> Bool? {
        guard let value = value(name) else { return nil }
        guard case .bool(let flag) = value else { throw ServerError(400, "'\(name)' must be true or false", param: name) }
        return flag
    }

    func number<R: RangeExpression<Double>>(_ name: String, _ range: R) throws(ServerError) -> Double? {
        guard let value = value(name) else { return nil }
        guard case .number(let number) = value, number.isFinite else { throw ServerError(400, "'\(name)' must be a number", param: name) }
        guard range.contains(number) else { throw ServerError(400, "'\(name)' is \(number) and must be in \(Self.describe(range))", param: name) }
        return number
    }

    func integer<R: RangeExpression<Int>>(_ name: String, _ range: R) throws(ServerError) -> Int? {
        guard let value = value(name) else { return nil }
        guard let integer = value.integer else { throw ServerError(400, "'\(name)' must be an integer", param: name) }
        guard range.contains(integer) else { throw ServerError(400, "'\(name)' is \(integer) and must be in \(Self.describe(range))", param: name) }
        return integer
    }

    static func describe<R>(_ range: R) -> String {
        let text = "\(range)"
        return text.hasSuffix("...") ? "≥ " + text.dropLast(3) : text
    }
}
