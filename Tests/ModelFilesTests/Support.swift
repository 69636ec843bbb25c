import Foundation
import ModelFiles
import Tensor
import Testing

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    static func data(_ name: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(name)) }

    /// Whether every one of `names` is in `../shared/models` (tests that need them are skipped otherwise).
    static func hasShared(_ names: String...) -> Bool { names.allSatisfy { shared($0) != nil } }

    /// `../shared/models/NAME` when the shared folder is beside the checkout.
    static func shared(_ name: String) -> String? {
        let path = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/models/\(name)").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}

/// A scratch folder removed when the test ends.
final class ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("rwkv-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
}

/// A zip archive of stored entries, as torch.save writes them (for hand-made pickles).
func makeZip(_ entries: [(String, [UInt8])]) -> [UInt8] {
    var out: [UInt8] = []
    var central: [UInt8] = []
    func u16(_ v: Int, _ into: inout [UInt8]) { into += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func u32(_ v: Int, _ into: inout [UInt8]) { for i in 0..<4 { into.append(UInt8(v >> (8 * i) & 0xFF)) } }
    for (name, data) in entries {
        let offset = out.count
        u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0, &out)
        u32(0, &out); u32(data.count, &out); u32(data.count, &out); u16(name.utf8.count, &out); u16(0, &out)
        out += name.utf8
        out += data
        u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
        u16(0, &central); u16(0, &central); u32(0, &central); u32(data.count, &central); u32(data.count, &central)
        u16(name.utf8.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
        u32(0, &central); u32(offset, &central)
        central += name.utf8
    }
    let directoryOffset = out.count
    out += central
    u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
    u32(central.count, &out); u32(directoryOffset, &out); u16(0, &out)
    return out
}

/// Pickle bytes for a one-tensor state dict `{'w': float tensor of 2 elements}`, optionally with a
/// replaced global or an extra opcode spliced in before STOP.
func statePickle(storageClass: String = "torch\nFloatStorage\n", beforeStop: [UInt8] = []) -> [UInt8] {
    func str(_ s: String) -> [UInt8] { [0x58] + withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian, Array.init) + Array(s.utf8) }
    var p: [UInt8] = [0x80, 0x02]
    p += [0x63] + Array("collections\nOrderedDict\n".utf8) + [0x29, 0x52]
    p += str("w")
    p += [0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8)
    p += [0x28, 0x28] + str("storage") + [0x63] + Array(storageClass.utf8) + str("0") + str("cpu") + [0x4B, 2, 0x74, 0x51]
    p += [0x4B, 0, 0x4B, 2, 0x85, 0x4B, 1, 0x85, 0x89]
    p += [0x63] + Array("collections\nOrderedDict\n".utf8) + [0x29, 0x52, 0x74, 0x52, 0x73]
    return p + beforeStop + [0x2E]
}

func pthArchive(_ pickle: [UInt8]) -> [UInt8] {
    makeZip([("archive/data.pkl", pickle), ("archive/data/0", withUnsafeBytes(of: (Float(1.5), Float(-2)), Array.init))])
}

/// Expects `body` to throw a `ModelFileError` whose message contains every fragment.
func expectModelError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error containing \(fragments)", sourceLocation: sourceLocation)
    } catch {
        let text = "\(error)"
        #expect(error is ModelFileError, "\(type(of: error)): \(text)", sourceLocation: sourceLocation)
        #expect(fragments.allSatisfy { text.contains($0) }, "\(text)", sourceLocation: sourceLocation)
        #expect(!text.contains("\n"), "error spans lines: \(text)", sourceLocation: sourceLocation)
    }
}
