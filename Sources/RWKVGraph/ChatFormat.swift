import Foundation

/// RWKV World chat prompts: `System: …\n\nUser: …\n\nAssistant: …\n\n` turns, ending with `Assistant:`
/// (the G1 reasoner format adds ` <think`). A blank line separates turns, so blank lines inside a message
/// become single line breaks; messages are trimmed.
public enum ChatFormat {
    static let roleNames = ["system": "System", "user": "User", "assistant": "Assistant"]

    /// The prompt text for `messages`.
    public static func prompt(_ messages: [ChatMessage], reasoner: Bool) -> String {
        var text = ""
        for message in messages {
            text += "\(roleNames[message.role] ?? "User"): \(normalized(message.content))\n\n"
        }
        return text + "Assistant:" + (reasoner ? " <think" : "")
    }

    /// What ends a reply: the next turn (reasoners write blank lines inside their thinking, so theirs is
    /// `\n\nUser:`).
    public static func stop(reasoner: Bool) -> String { reasoner ? "\n\nUser:" : "\n\n" }

    static func normalized(_ content: String) -> String {
        var text = content.replacingOccurrences(of: "\r\n", with: "\n")
        while text.contains("\n\n") { text = text.replacingOccurrences(of: "\n\n", with: "\n") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
