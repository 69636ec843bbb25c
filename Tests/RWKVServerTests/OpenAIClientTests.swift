import Foundation
import Testing

/// `rwkv serve` end to end with the official `openai` Python client (`tools/openai_e2e.py`): models, a
/// completion, a streamed chat, 32 concurrent streamed chats, error classes; then SIGTERM stops it cleanly.
/// Skipped where the test run did not build the binary or `openai` is not installed (tools/setup.sh installs it).
@Suite struct OpenAIClientTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rwkv")
    static let hasBinary = FileManager.default.isExecutableFile(atPath: binary.path)
    static let hasClient: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import openai"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    /// Starts `rwkv serve` on a free port; returns the process and the port it printed.
    static func startServer(_ extra: [String] = []) throws -> (Process, Int) {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "-m", root.appendingPathComponent("models/rwkv7-tiny-stories.gguf").path, "--port", "0",
                             "--parallel", "8", "-t", "2", "--name", "tiny"] + extra
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, process.isRunning {
            let data = errors.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
            if let range = seen.range(of: #"http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
               let port = Int(seen[range].split(separator: ":").last!) {
                return (process, port)
            }
        }
        process.terminate()
        throw ServerStartFailure(output: seen)
    }

    struct ServerStartFailure: Error, CustomStringConvertible {
        let output: String
        var description: String { "rwkv serve did not start: \(output)" }
    }

    @Test(.enabled(if: hasBinary && hasClient, "needs the rwkv binary of this build and the openai Python client"))
    func officialClientEndToEnd() throws {
        let (server, port) = try Self.startServer()
        defer { if server.isRunning { server.terminate() } }
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["python3", Self.root.appendingPathComponent("tools/openai_e2e.py").path, "http://127.0.0.1:\(port)/v1", "tiny"]
        let output = Pipe()
        client.standardOutput = output
        client.standardError = output
        try client.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        client.waitUntilExit()
        #expect(client.terminationStatus == 0, "\(text)")
        #expect(text.contains("all checks passed"), "\(text)")
        server.terminate()
        server.waitUntilExit()
        #expect(server.terminationReason == .exit && server.terminationStatus == 0, "SIGTERM should stop the server cleanly")
    }
}
