import Foundation

/// The JSON bodies the server answers with, in OpenAI's shapes.
enum OpenAIResponse {
    struct ErrorBody: Encodable {
        struct Detail: Encodable {
            let message: String
            let type: String
            let param: String?
            let code: String?
        }
        let error: Detail
    }

    struct ModelList: Encodable {
        struct Model: Encodable {
            let id: String
            let object = "model"
            let created: Int
            let owned_by = "rwkv-swift"
        }
        let object = "list"
        let data: [Model]
    }

    struct Message: Encodable {
        var role: String?
        var content: String?
    }

    /// One choice of a completion (`text`) or chat (`message` or, streamed, `delta`).
    struct Choice: Encodable {
        let index = 0
        var text: String?
        var message: Message?
        var delta: Message?
        var finish_reason: FinishReason?
        var logprobs: String? = nil

        enum CodingKeys: String, CodingKey { case index, text, message, delta, finish_reason, logprobs }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encodeIfPresent(text, forKey: .text)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(delta, forKey: .delta)
            try container.encode(finish_reason, forKey: .finish_reason)  // null while streaming
            try container.encodeNil(forKey: .logprobs)
        }
    }

    struct Completion: Encodable {
        let id: String
        let object: String
        let created: Int
        let model: String
        let choices: [Choice]
        var usage: Usage?
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    static func json(_ value: some Encodable) -> [UInt8] {
        (try? Array(encoder.encode(value))) ?? Array(#"{"error":{"message":"encoding failed","type":"server_error"}}"#.utf8)
    }

    static func error(_ error: ServerError) -> [UInt8] {
        json(ErrorBody(error: .init(message: error.message, type: error.type, param: error.param, code: error.code)))
    }

    /// A server-sent event carrying `value` as JSON.
    static func event(_ value: some Encodable) -> [UInt8] { Array("data: ".utf8) + json(value) + Array("\n\n".utf8) }

    static let done = Array("data: [DONE]\n\n".utf8)

    static func identifier(_ prefix: String) -> String {
        prefix + "-" + (0..<12).map { _ in String(Int.random(in: 0..<36), radix: 36) }.joined()
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }
}
