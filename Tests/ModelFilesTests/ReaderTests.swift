import Foundation
import ModelFiles
import Tensor
import Testing

@Suite struct ReaderTests {
    @Test func ggufMetadataOfEveryValueType() throws {
        let file = try GGUFFile(path: Fixtures.path("values.gguf"))
        #expect(file.version == 3 && file.alignment == 32)
        #expect(file["general.architecture"] == .string("test"))
        #expect(file["v.u8"] == .uint8(200) && file["v.i8"] == .int8(-100))
        #expect(file["v.u16"] == .uint16(60000) && file["v.i16"] == .int16(-30000))
        #expect(file["v.u32"] == .uint32(4_000_000_000) && file["v.i32"] == .int32(-2_000_000_000))
        #expect(file["v.f32"] == .float32(1.5) && file["v.bool"] == .bool(true) && file["v.string"] == .string("héllo"))
        #expect(file["v.u64"] == .uint64(1 << 63 + 5) && file["v.i64"] == .int64(-(1 << 62)) && file["v.f64"] == .float64(-2.25))
        #expect(file["v.array"] == .array(.int32, [.int32(1), .int32(2), .int32(3)]))
        #expect(file["v.nested"] == .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)])]))
        #expect(file["v.strings"] == .array(.string, [.string("a"), .string("bc"), .string("")]))
        #expect(try file.tensor("t.f32").floats() == (0..<8).map(Float.init))
        #expect(try file.tensor("t.f32").shape == Shape(4, 2))
        #expect(try file.tensor("t.f16").floats().map { ($0 * 10).rounded() } == [-10, -6, -2, 2, 6, 10])
        let q = try file.tensor("t.q8_0")
        #expect(q.dtype == .q8_0 && q.shape == Shape(32, 2))
        let want = (0..<64).map { -1 + 2 * Float($0) / 63 }
        #expect(zip(q.floats(), want).allSatisfy { abs($0 - $1) < 0.01 })
        // Zero-copy: the tensor points into the mapping.
        #expect(q.storage.isWritable == false)
    }

    @Test func pthReaderHandlesDtypesParametersViewsAndScalars() throws {
        let checkpoint = try Checkpoint.open(Fixtures.path("mixed.pth"))
        let t = Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.name, $0.tensor) })
        #expect(checkpoint.format == .pth)
        #expect(t["half"]!.dtype == .f16 && t["half"]!.floats().first == -2 && t["half"]!.floats().last == 2)
        #expect(t["bfloat"]!.dtype == .bf16 && t["bfloat"]!.shape == Shape(4, 3) && t["bfloat"]!.floats()[0] == -3)
        #expect(t["param"]!.floats() == [Float](repeating: 0.5, count: 6))
        #expect(t["view_a"]!.floats() == (6..<12).map(Float.init))
        #expect(t["view_b"]!.floats() == (12..<24).map(Float.init) && t["view_b"]!.shape == Shape(6, 2))
        #expect(t["scalar"]!.floats() == [3.25] && t["scalar"]!.shape == Shape(1))
        #expect(checkpoint.tensors.map(\.name) == ["half", "bfloat", "param", "view_a", "view_b", "scalar"])
    }

    @Test func nonContiguousTensorsAreRefused() {
        expectModelError(["strided.pth", "'t' is not contiguous"]) { _ = try Checkpoint.open(Fixtures.path("strided.pth")) }
    }

    @Test func handMadePickleLoads() throws {
        let scratch = try ScratchDirectory()
        let path = try scratch.write("ok.pth", pthArchive(statePickle()))
        let checkpoint = try Checkpoint.open(path)
        #expect(checkpoint.tensors.count == 1 && checkpoint.tensors[0].tensor.floats() == [1.5, -2])
    }

    @Test func hostileGlobalsAreRefused() throws {
        let scratch = try ScratchDirectory()
        for global in ["os\nsystem\n", "builtins\neval\n", "subprocess\nPopen\n", "torch\nLongStorage\n", "__builtin__\nopen\n"] {
            let path = try scratch.write("evil.pth", pthArchive(statePickle(storageClass: global)))
            let name = global.split(separator: "\n").joined(separator: ".")
            expectModelError(["evil.pth", "refusing global '\(name)'"]) { _ = try Checkpoint.open(path) }
        }
        // A REDUCE of a hostile callable never runs: the GLOBAL is refused first.
        let reduce: [UInt8] = [0x63] + Array("os\nsystem\n".utf8) + [0x58, 2, 0, 0, 0, 0x6C, 0x73, 0x85, 0x52, 0x30]
        let path = try scratch.write("reduce.pth", pthArchive(statePickle(beforeStop: reduce)))
        expectModelError(["refusing global 'os.system'"]) { _ = try Checkpoint.open(path) }
    }

    /// Every pickle opcode outside the torch state-dict subset is refused by name.
    @Test func unsupportedOpcodesAreRefused() throws {
        let scratch = try ScratchDirectory()
        let unsupported: [UInt8] = [0x49, 0x4C, 0x53, 0x56, 0x5D, 0x61, 0x65, 0x6C, 0x64, 0x6F, 0x69, 0x30, 0x31, 0x32, 0x46, 0x47,
                                    0x54, 0x55, 0x42, 0x43, 0x70, 0x67, 0x81, 0x82, 0x83, 0x84, 0x8B, 0x8D, 0x8E, 0x8F, 0x90,
                                    0x91, 0x92, 0x96, 0x97, 0x98, 0x50, 0x24, 0x00, 0xFF]
        for op in unsupported {
            let path = try scratch.write("op.pth", pthArchive(statePickle(beforeStop: [op])))
            expectModelError(["unsupported pickle opcode 0x\(String(op, radix: 16, uppercase: true))"]) { _ = try Checkpoint.open(path) }
        }
    }

    @Test func otherReaderErrors() throws {
        let scratch = try ScratchDirectory()
        expectModelError(["/no/such/model.gguf", "cannot open"]) { _ = try Checkpoint.open("/no/such/model.gguf") }
        expectModelError(["empty.bin", "too short"]) { _ = try Checkpoint.open(try scratch.write("empty.bin", [])) }
        expectModelError(["junk.bin", "unknown file format"]) { _ = try Checkpoint.open(try scratch.write("junk.bin", Array(repeating: 7, count: 64))) }
        expectModelError(["legacy"]) { _ = try Checkpoint.open(try scratch.write("old.pth", [0x80, 0x02, 0x8A, 0x0A] + Array(repeating: 0, count: 20))) }
        var gguf = Array(try Fixtures.data("values.gguf"))
        gguf[4] = 9
        expectModelError(["GGUF version 9"]) { _ = try Checkpoint.open(try scratch.write("v9.gguf", gguf)) }
        func safetensors(_ json: String) -> [UInt8] {
            withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian, Array.init) + Array(json.utf8) + Array(repeating: 0, count: 16)
        }
        expectModelError(["dtype I64"]) {
            _ = try Checkpoint.open(try scratch.write("x.safetensors", safetensors(#"{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#)))
        }
        expectModelError(["overflows"]) {
            _ = try Checkpoint.open(try scratch.write("o.safetensors", safetensors(#"{"a":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,16]}}"#)))
        }
        expectModelError(["data_offsets [0, 20]"]) {
            _ = try Checkpoint.open(try scratch.write("p.safetensors", safetensors(#"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}}"#)))
        }
        expectModelError(["safetensors header offset 1", "expected a tensor name"]) { _ = try Checkpoint.open(try scratch.write("j.safetensors", safetensors("{nope"))) }
    }

    @Test func modelErrorsNameTheTensor() throws {
        let scratch = try ScratchDirectory()
        // The tiny model with one LoRA matrix dropped, and with one matrix of the wrong shape.
        let checkpoint = try Checkpoint.open(Fixtures.path("tiny-f32.gguf"))
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("rwkv7"))
        for (name, tensor) in checkpoint.tensors where name != "blk.1.time_mix_g2.weight" { try writer.add(name, tensor) }
        try writer.write(to: scratch.path("missing.gguf"))
        expectModelError(["missing.gguf", "missing tensor 'blk.1.time_mix_g2.weight' (official name 'blocks.1.att.g2')"]) { _ = try RWKV7Weights(try Checkpoint.open(scratch.path("missing.gguf"))) }

        var bad = GGUFWriter()
        for (name, tensor) in checkpoint.tensors {
            try bad.add(name, name == "blk.0.channel_mix_value.weight" ? try Tensor(zeros: .f32, Shape(64, 128)) : tensor)
        }
        try bad.write(to: scratch.path("shape.gguf"))
        expectModelError(["'blocks.0.ffn.value.weight' has shape [64, 128], expected [128, 128]"]) {
            _ = try RWKV7Weights(try Checkpoint.open(scratch.path("shape.gguf")))
        }
    }

    @Test func writerRefusesInMemoryLayouts() throws {
        var writer = GGUFWriter()
        let packed = try Tensor(zeros: .q8_0, Shape(32, 8)).interleavedRows()
        expectModelError(["output.weight", "in-memory type q8_0r8"]) { try writer.add("output.weight", packed) }
        #expect(writer.tensors.isEmpty)
    }

    @Test func writerLeavesNoPartialFile() throws {
        let scratch = try ScratchDirectory()
        var writer = GGUFWriter()
        try writer.add("a", try Tensor(zeros: .f32, Shape(4)))
        #expect(throws: ModelFileError.self) { try writer.write(to: scratch.path("no/such/dir/out.gguf")) }
        try writer.write(to: scratch.path("out.gguf"))
        let names = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path)
        #expect(names == ["out.gguf"])
    }
}
