import CMallocCounter
import Foundation
import ModelFiles
import Tensor
import Testing

/// Files built to hurt a reader (issue 17's probe): deep nesting, headers that expand in memory, ranges
/// and header fields that contradict the data. Each is refused with a one-line error or read within a
/// bounded amount of memory.
@Suite struct HostileInputTests {
    /// Runs `body` on this thread with heap tracking on and returns the peak heap bytes it held.
    static func peakHeapBytes(_ body: () throws -> Void) rethrows -> Int {
        rwkv_malloc_counter_track_current_thread(1)
        defer { rwkv_malloc_counter_track_current_thread(0) }
        rwkv_malloc_counter_reset_peak()
        try body()
        return rwkv_malloc_counter_peak_bytes()
    }

    /// The bound every reader keeps: four bytes of memory per header byte, plus 1 MiB. Not checked where heap
    /// counting is off (sanitizer builds, whose runtime owns malloc); every normal run checks it.
    static func expectBounded(_ peak: Int, header: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard rwkv_malloc_counter_available() != 0 else { return }
        #expect(peak >= 0 && peak <= 4 * header + (1 << 20), "\(what): peak heap \(peak) bytes for a \(header)-byte header", sourceLocation: sourceLocation)
    }

    static func safetensors(_ json: String, data: Int) -> [UInt8] {
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        return withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + [UInt8](repeating: 0, count: data)
    }

    // MARK: - .pth

    /// 40,000 nested TUPLE1s once crashed the release of the nested values (stack overflow).
    @Test func deeplyNestedPickleValuesAreRefused() throws {
        let scratch = try ScratchDirectory()
        let tuple1: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 40_000) + [0x2E]
        let marks: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x28, count: 60_000) + [UInt8](repeating: 0x74, count: 60_000) + [0x2E]
        for (name, pickle) in [("tuple1.pth", tuple1), ("marks.pth", marks)] {
            let path = try scratch.write(name, makeZip([("archive/data.pkl", pickle)]))
            expectModelError([name, "nested more than 64 levels"]) { _ = try Checkpoint.open(path) }
        }
        // A state dict is only four levels deep: the bound leaves real checkpoints alone.
        _ = try Checkpoint.open(try scratch.write("ok.pth", pthArchive(statePickle())))
    }

    @Test func zipDirectoryThatContradictsTheFileIsRefused() throws {
        let scratch = try ScratchDirectory()
        let good = pthArchive(statePickle())
        let eocd = good.count - 22
        func patched(_ offset: Int, _ value: UInt32) -> [UInt8] {
            var copy = good
            withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { copy[offset + i] = b } }
            return copy
        }
        let directorySize = Int(good[eocd + 12]) | Int(good[eocd + 13]) << 8
        let directoryOffset = Int(good[eocd + 16]) | Int(good[eocd + 17]) << 8
        // Central directory offset past the end of the file, and just past the directory's own end.
        expectModelError(["corrupt zip central directory"]) { _ = try Checkpoint.open(try scratch.write("a.pth", patched(eocd + 16, UInt32(good.count + 100)))) }
        expectModelError(["corrupt zip central directory"]) { _ = try Checkpoint.open(try scratch.write("b.pth", patched(eocd + 16, UInt32(directoryOffset + 1)))) }
        // A directory size that disagrees with its entries.
        expectModelError(["central directory says"]) { _ = try Checkpoint.open(try scratch.write("c.pth", patched(eocd + 12, UInt32(directorySize - 1)))) }
        // An entry whose data runs into the central directory.
        let firstEntrySize = directoryOffset + 20  // central entry 0's compressed size
        var overlapping = patched(firstEntrySize, UInt32(directoryOffset))
        overlapping.replaceSubrange((directoryOffset + 24)..<(directoryOffset + 28), with: withUnsafeBytes(of: UInt32(directoryOffset).littleEndian, Array.init))
        expectModelError(["extends past the start of the central directory"]) { _ = try Checkpoint.open(try scratch.write("d.pth", overlapping)) }
    }

    // MARK: - safetensors

    @Test func overlappingSafetensorsRangesAreRefused() throws {
        let scratch = try ScratchDirectory()
        let json = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        expectModelError(["'a'", "'b'", "overlap"]) { _ = try Checkpoint.open(try scratch.write("o.safetensors", Self.safetensors(json, data: 12))) }
        let same = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        expectModelError(["overlap"]) { _ = try Checkpoint.open(try scratch.write("s.safetensors", Self.safetensors(same, data: 8))) }
        let twice = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expectModelError(["names 'a' twice"]) { _ = try Checkpoint.open(try scratch.write("t.safetensors", Self.safetensors(twice, data: 8))) }
    }

    /// 2.5 M metadata keys in a 91 MB header once peaked at 756 MB; the header is now read without a JSON
    /// object tree (here at a twelfth of that size, the bound scales with it).
    @Test func largeSafetensorsHeadersStayWithinBoundedMemory() throws {
        let scratch = try ScratchDirectory()
        let tensor = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
        let keys = (0..<200_000).map { #""k\#($0)":"vvvvvvvvvvvvvvvvvvvv""# }.joined(separator: ",")
        let cases: [(String, String)] = [
            ("keys", #"{"__metadata__":{"# + keys + "}," + tensor + "}"),
            ("string", #"{"__metadata__":{"k":""# + String(repeating: "x", count: 8_000_000) + #""},"# + tensor + "}"),
            ("nested", #"{"__metadata__":{"k":"# + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000) + "}," + tensor + "}"),
            ("tensors", "{" + (0..<60_000).map { #""t\#($0)":{"dtype":"F32","shape":[1],"data_offsets":[\#(4 * $0),\#(4 * $0 + 4)]}"# }.joined(separator: ",") + "}"),
        ]
        for (name, json) in cases {
            let path = try scratch.write("\(name).safetensors", Self.safetensors(json, data: 240_000))
            var tensors = 0
            let peak = try Self.peakHeapBytes { tensors = try Checkpoint.open(path).tensors.count }
            #expect(tensors == (name == "tensors" ? 60_000 : 1), "\(name)")
            Self.expectBounded(peak, header: json.utf8.count, name)
        }
        let tooMany = "{" + (0...Checkpoint.maxTensorCount).map { #""t\#($0)":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}"# }.joined(separator: ",") + "}"
        expectModelError(["65537 tensors", "more than any RWKV-7 model has"]) {
            _ = try Checkpoint.open(try scratch.write("many.safetensors", Self.safetensors(tooMany, data: 0)))
        }
    }

    @Test func malformedSafetensorsJSONIsRefused() throws {
        let scratch = try ScratchDirectory()
        let tensor = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
        let cases: [(String, String)] = [
            ("{" + tensor, "expected '}' or ','"), ("{" + tensor + "}x", "unexpected bytes"),
            (#"{"__metadata__":{"k":[1,2}},"# + tensor + "}", "expected ',' or ']'"),
            (#"{"__metadata__":{"k":"\x"},"# + tensor + "}", "invalid escape"),
            (#"{"__metadata__":{"k":"\ud800"},"# + tensor + "}", "unpaired surrogate"),
            (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, "non-negative integer"),
            (#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, "non-negative integer"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}"#, "more than 2 values"),
            (#"{"a":{"dtype":"F32","shape":[2],"shape":[2],"data_offsets":[0,8]}}"#, "gives 'shape' twice"),
            (#"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#, "lacks dtype, shape or data_offsets"),
            (#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#, "too large"),
        ]
        for (json, fragment) in cases {
            expectModelError([fragment]) { _ = try Checkpoint.open(try scratch.write("m.safetensors", Self.safetensors(json, data: 8))) }
        }
        var invalidUTF8 = Self.safetensors(#"{"__metadata__":{"k":"??"},"# + tensor + "}", data: 8)
        let question = invalidUTF8.firstIndex(of: UInt8(ascii: "?"))!
        invalidUTF8[question] = 0xFF
        expectModelError(["not valid UTF-8"]) { _ = try Checkpoint.open(try scratch.write("u.safetensors", invalidUTF8)) }
    }

    // MARK: - GGUF

    static func gguf(arrayType: UInt32, count: Int, elements: [UInt8]) -> [UInt8] {
        func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        return u32(GGUFFile.magic) + u32(3) + u64(0) + u64(1) + u64(1) + [UInt8(ascii: "a")] + u32(9) + u32(arrayType) + u64(UInt64(count)) + elements
    }

    @Test func ggufMetadataArraysStayWithinBoundedMemory() throws {
        let scratch = try ScratchDirectory()
        // A uint8 array is kept as its bytes, not one enum value per element.
        let bytes = Self.gguf(arrayType: 0, count: 8_000_000, elements: [UInt8](repeating: 7, count: 8_000_000))
        let path = try scratch.write("u8.gguf", bytes)
        var file: GGUFFile?
        let peak = try Self.peakHeapBytes { file = try GGUFFile(path: path) }
        Self.expectBounded(peak, header: bytes.count, "u8 array")
        guard case .array(let values)? = file?["a"] else { Issue.record("no array"); return }
        #expect(values.count == 8_000_000 && values[7_999_999] == .uint8(7))
        // A million empty strings.
        let strings = Self.gguf(arrayType: 8, count: 1_000_000, elements: [UInt8](repeating: 0, count: 8_000_000))
        let stringsPath = try scratch.write("strings.gguf", strings)
        Self.expectBounded(try Self.peakHeapBytes { _ = try GGUFFile(path: stringsPath) }, header: strings.count, "empty strings")
        // Nested empty arrays cost more in memory than in the file: refused once past the bound.
        let nested = Self.gguf(arrayType: 9, count: 1_000_000, elements: [UInt8](repeating: 0, count: 12_000_000))
        let nestedPath = try scratch.write("nested.gguf", nested)
        let nestedPeak = Self.peakHeapBytes { expectModelError(["refusing a header built to expand"]) { _ = try GGUFFile(path: nestedPath) } }
        Self.expectBounded(nestedPeak, header: nested.count, "nested arrays")
    }

    @Test func ggufMetadataThatContradictsTheTensorsIsRefused() throws {
        let scratch = try ScratchDirectory()
        let weights = try RWKV7Weights(try Checkpoint.open(Fixtures.path("tiny-f32.gguf")))
        for (key, value) in [("rwkv7.block_count", 5), ("rwkv7.embedding_length", 64), ("rwkv7.feed_forward_length", 1)] {
            var writer = try RWKV7GGUF.writer(for: weights, name: "tiny")
            writer.set(key, .uint32(UInt32(value)))
            let path = scratch.path("\(key).gguf")
            try writer.write(to: path)
            expectModelError([key, "= \(value) contradicts the tensors"]) { _ = try RWKV7Weights(try Checkpoint.open(path)) }
        }
        var writer = try RWKV7GGUF.writer(for: weights, name: "tiny")
        writer.set("rwkv7.block_count", .string("two"))
        try writer.write(to: scratch.path("s.gguf"))
        expectModelError(["rwkv7.block_count", "not an integer"]) { _ = try RWKV7Weights(try Checkpoint.open(scratch.path("s.gguf"))) }
    }

    // MARK: - rwkv.cpp

    @Test func rwkvCppHeaderThatContradictsTheTensorsIsRefused() throws {
        let scratch = try ScratchDirectory()
        let seed = MalformedInputTests.rwkvCppSeed()
        func patched(_ offset: Int, _ value: UInt32) -> [UInt8] {
            var copy = seed
            withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { copy[offset + i] = b } }
            return copy
        }
        _ = try Checkpoint.open(try scratch.write("ok.bin", seed))
        expectModelError(["n_layer 2147483648", "1 blocks"]) { _ = try Checkpoint.open(try scratch.write("l.bin", patched(16, 1 << 31))) }
        expectModelError(["n_embed 4 and n_vocab 9", "'emb.weight' has shape [4, 8]"]) { _ = try Checkpoint.open(try scratch.write("v.bin", patched(8, 9))) }
        expectModelError(["n_embed 5"]) { _ = try Checkpoint.open(try scratch.write("e.bin", patched(12, 5))) }
        expectModelError(["header data type 77"]) { _ = try Checkpoint.open(try scratch.write("t.bin", patched(20, 77))) }
    }

    /// The shared FP16 file's main type is 1; a header saying FP32 contradicts its F16 matrices.
    @Test(.enabled(if: Fixtures.shared("tiny-rwkv-7v0-834K-FP16.bin") != nil, "needs ../shared/models"))
    func rwkvCppMainTypeThatContradictsTheMatricesIsRefused() throws {
        let scratch = try ScratchDirectory()
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("tiny-rwkv-7v0-834K-FP16.bin")!)))
        bytes[20] = 0
        expectModelError(["header data type 0 (f32) disagrees with 'blocks.0.att.key.weight', which is f16"]) {
            _ = try Checkpoint.open(try scratch.write("fp16.bin", bytes))
        }
    }
}
