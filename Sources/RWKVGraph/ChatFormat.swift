import Foundation

/// A chat message: `system`, `user` or `assistant`, with its text.
public struct ChatMessage: Sendable, Equatable {
    public let role: String
    public let content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// RWKV World chat prompts: `System: …\n\nUser: …\n\nAssistant: …\n\n` turns, ending with `Assistant:`
/// (the G1 reasoner format adds ` <think`). A blank line separates turns, so blank lines inside a message
/// become single line breaks; messages are trimmed. `rwkv chat` (``ChatSession``) and `rwkv serve` both
/// write their turns this way.
public enum ChatFormat {
    static let roleNames = ["system": "System", "user": "User", "assistant": "Assistant"]

    /// The prompt text for `messages`.
    public static func prompt(_ messages: [ChatMessage], reasoner: Bool) -> String {
        var text = ""
        for message in messages {
            let content = withoutBlankLines(message.content).trimmingCharacters(in: .whitespacesAndNewlines)
            text += "\(roleNames[message.role] ?? "User"): \(content)\n\n"
        }
        return text + replyStart(reasoner: reasoner)
    }

    /// What follows a user's message: `Assistant:`, and for a reasoner ` <think`.
    public static func replyStart(reasoner: Bool) -> String { "Assistant:" + (reasoner ? " <think" : "") }

    /// What ends a reply: the next turn (reasoners write blank lines inside their thinking, so theirs is
    /// `\n\nUser:`).
    public static func stop(reasoner: Bool) -> String { reasoner ? "\n\nUser:" : "\n\n" }

    /// `content` with CRLF as LF and every run of line breaks as one (a blank line would end the turn).
    public static func withoutBlankLines(_ content: String) -> String {
        var text = content.replacingOccurrences(of: "\r\n", with: "\n")
        while text.contains("\n\n") { text = text.replacingOccurrences(of: "\n\n", with: "\n") }
        return text
    }
}
