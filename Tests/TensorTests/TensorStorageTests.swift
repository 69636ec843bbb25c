import Foundation
import Tensor
import Testing

extension TensorTestSuite {
    struct TensorStorageTests {
        @Test func ownedStorageIsAlignedZeroedAndWritable() throws {
            let t = try Tensor(zeros: .f32, Shape(5, 3))
            #expect(t.byteCount == 60 && t.count == 15 && t.isWritable)
            #expect(Int(bitPattern: t.storage.base) % 64 == 0)
            #expect(t.floats() == [Float](repeating: 0, count: 15))
            t.withUnsafeMutableBytes { $0.storeBytes(of: Float(2.5), toByteOffset: 4, as: Float.self) }
            #expect(t.floats()[1] == 2.5)
        }

        @Test func shapesFollowGGMLOrder() throws {
            let s = Shape(768, 3, 2)
            #expect(s.rowLength == 768 && s.rowCount == 6 && s.count == 4608 && s[3] == 1 && s.description == "[768, 3, 2]")
            #expect(Shape.checkedCount([Int.max / 2, 3]) == nil)
            #expect(try Tensor(zeros: .q4_0, Shape(64, 2)).byteCount == 72)
        }

        @Test func invalidShapesAndValuesThrow() throws {
            #expect(throws: TensorError.self) { try Tensor(zeros: .q8_0, Shape(33)) }
            #expect(throws: TensorError.self) { try Tensor([1, 2, 3], shape: Shape(2)) }
            #expect(throws: TensorError.self) { try Tensor(zeros: .f32, Shape(1 << 40, 1 << 40)) }
            #expect(throws: TensorError.self) { try Tensor(zeros: .f32, Shape(10)).converted(to: .q4_0) }
            #expect(throws: TensorError.self) { try Tensor(zeros: .f32, Shape(4)).reshaped(Shape(3)) }
        }

        @Test func fileViewsAreZeroCopyReadOnlyAndKeepTheFileAlive() throws {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("rwkv-view-\(getpid()).bin").path
            let values: [Float] = (0..<64).map(Float.init)
            try values.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }

            var view: Tensor?
            do {
                let file = try MappedFile(path: path)
                view = try Tensor(viewing: file, offset: 16, dtype: .f32, shape: Shape(4, 2))
                #expect(view!.storage.base == UnsafeMutableRawPointer(mutating: file.base!) + 16)
                #expect(throws: TensorError.self) { try Tensor(viewing: file, offset: 250, dtype: .f32, shape: Shape(2)) }
                #expect(throws: TensorError.self) { try Tensor(viewing: file, offset: -4, dtype: .f32, shape: Shape(2)) }
                #expect(throws: TensorError.self) { try Tensor(viewing: file, offset: 0, dtype: .f32, shape: Shape(1 << 62, 4)) }
            }
            // The MappedFile variable is gone; the view still reads the mapping it holds.
            #expect(view!.floats() == [4, 5, 6, 7, 8, 9, 10, 11])
            #expect(view!.isWritable == false)
        }

        @Test func missingFilesAreClearErrors() {
            #expect {
                try MappedFile(path: "/nonexistent/model.gguf")
            } throws: { error in
                "\(error)".contains("/nonexistent/model.gguf") && "\(error)".contains("cannot open")
            }
        }

        /// The r8 layouts hold the same blocks: interleaving and back restores the bytes, values are unchanged,
        /// and shapes that cannot be interleaved are refused.
        @Test(arguments: [DType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K])
        func interleavedRowsRoundTrip(_ type: DType) throws {
            let k = 3 * type.blockSize
            let plain = try randomTensor(Shape(k, 24), seed: 31).converted(to: type)
            let packed = try plain.interleavedRows()
            #expect(packed.dtype == type.interleavedLayout && packed.byteCount == plain.byteCount)
            #expect(packed.bytes != plain.bytes)
            #expect(try packed.deinterleavedRows().bytes == plain.bytes)
            #expect(packed.floats() == plain.floats())
            #expect(try packed.converted(to: .f32).floats() == plain.floats())
            // Converting to the r8 type is converting to its rows' type, then interleaving (Q6_K's quantizer does
            // not give back its own bytes from their decoded values, so compare with that, not with `packed`).
            let decoded = try plain.converted(to: .f32)
            #expect(try decoded.converted(to: packed.dtype).bytes == (try decoded.converted(to: type).interleavedRows()).bytes)
            #expect(plain.interleavedForMatmul().dtype == packed.dtype)
            // Not interleavable: 12 rows, a vector, an F16 matrix (kept as they are by interleavedForMatmul).
            let twelveRows = try randomTensor(Shape(k, 12), seed: 32).converted(to: type)
            #expect(throws: TensorError.self) { try twelveRows.interleavedRows() }
            #expect(twelveRows.interleavedForMatmul().dtype == type)
            #expect(try randomTensor(Shape(64, 8), seed: 33).converted(to: .f16).interleavedForMatmul().dtype == .f16)
            #expect(throws: TensorError.self) { try Tensor(zeros: packed.dtype, Shape(k, 12)) }
            #expect(throws: TensorError.self) { try Tensor(zeros: packed.dtype, Shape(k)) }
            #expect(throws: TensorError.self) { try packed.reshaped(Shape(k * 3, 8)) }
            #expect(throws: TensorError.self) { try plain.deinterleavedRows() }
        }

        @Test func conversionsRoundTripThroughEveryType() throws {
            let t = try randomTensor(Shape(64, 3), seed: 9)
            for type in [DType.f32, .f16, .bf16, .q8_0, .q4_0] {
                let back = try t.converted(to: type).converted(to: .f32).floats()
                let tolerance: Float = [DType.f32: 0, .f16: 1e-3, .bf16: 8e-3, .q8_0: 1e-2, .q4_0: 0.15][type]!
                for (a, b) in zip(back, t.floats()) { #expect(abs(a - b) <= tolerance) }
            }
        }
    }
}

extension TensorTestSuite {
    struct GraphValidationTests {
        func expectGraphError(_ fragments: [String], _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(sourceLocation: sourceLocation) { try body() } throws: { error in
                error is GraphError && fragments.allSatisfy { "\(error)".contains($0) }
            }
        }

        @Test func mismatchesNameTheOpAndBothShapes() throws {
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(64, 3))
            let y = try graph.input("y", .f32, Shape(32, 3))
            let w = graph.weight(try Tensor(zeros: .f32, Shape(48, 16)))
            let ids = try graph.input("ids", .i32, Shape(3))
            expectGraphError(["add", "[64, 3]", "[32, 3]"]) { _ = try graph.add(x, y) }
            expectGraphError(["matmul", "[48, 16]", "[64, 3]"]) { _ = try graph.matmul(w, x) }
            expectGraphError(["layer_norm", "[32, 3]", "[64]"]) { _ = try graph.layerNorm(x, weight: y, bias: y, eps: 1e-5) }
            expectGraphError(["group_norm", "5 groups"]) { _ = try graph.groupNorm(x, weight: x, bias: x, groups: 5, eps: 1e-5) }
            expectGraphError(["sigmoid", "i32"]) { _ = try graph.sigmoid(ids) }
            expectGraphError(["get_rows", "ids"]) { _ = try graph.getRows(w, ids: x) }
            expectGraphError(["rows", "2..<5"]) { _ = try graph.rows(x, start: 2, count: 3) }
            expectGraphError(["wkv7", "state"]) { _ = try graph.wkv7(r: x, w: x, k: x, v: x, a: x, b: x, state: y, headSize: 64) }
            expectGraphError(["store", "state"]) { try graph.store(x, into: y) }
            expectGraphError(["slot 'x'"]) { _ = try graph.input("x", .f32, Shape(1)) }
            let q = graph.weight(try Tensor(zeros: .q8_0, Shape(32, 4)))
            let narrow = try graph.input("narrow", .f32, Shape(16, 1))
            expectGraphError(["matmul", "[32, 4]", "[16, 1]"]) { _ = try graph.matmul(q, narrow) }
            // A type with no matmul kernel is an error naming it, never another type's kernel.
            let wide = try graph.input("wide", .f32, Shape(256, 1))
            for type in DType.allCases where type.traits.matmul == nil {
                let weight = graph.weight(try Tensor(zeros: type, Shape(256, 2)))
                expectGraphError(["matmul", "weight type \(type) has no matmul kernel"]) { _ = try graph.matmul(weight, wide) }
            }
        }

        @Test func recordingComputesNothing() throws {
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(8, 2))
            let y = try graph.exp(try graph.add(x, x))
            #expect(graph.nodes.count == 3 && graph.shape(y) == Shape(8, 2))
            try graph.output(y, "y")
            #expect(throws: GraphError.self) { try graph.output(y, "y") }
            #expect(throws: GraphError.self) { try graph.output(x, "x") }
        }

        @Test func executorRejectsBadBindings() throws {
            var graph = Graph()
            let x = try graph.input("x", .f32, Shape(8, 2))
            let s = try graph.state("s", Shape(8))
            try graph.output(try graph.shift(x, previous: s), "y")
            let executor = Executor(graph: graph, threads: 2)
            #expect(throws: ExecutionError.self) { try executor.run() }
            #expect(throws: ExecutionError.self) { try executor.bind("x", try Tensor(zeros: .f32, Shape(4, 2))) }
            #expect(throws: ExecutionError.self) { try executor.bind("x", try Tensor(zeros: .i32, Shape(8, 2))) }
            #expect(throws: ExecutionError.self) { try executor.bind("nope", try Tensor(zeros: .f32, Shape(8, 2))) }
            #expect(throws: ExecutionError.self) { try executor.output("nope") }
        }
    }
}

extension TensorTestSuite {
    struct WeightArenaTests {
        /// Buffers that ask for huge pages start on a huge-page boundary from 2 MiB (the mapping is advised to use
        /// huge pages); others keep the cache-line alignment; all come zeroed. A weight arena asks for them.
        @Test(arguments: [false, true])
        func hugePageStorageIsAligned(_ hugePages: Bool) {
            for bytes in [100, 1 << 20, 2 << 20, (5 << 20) + 3] {
                let storage = TensorStorage(zeroedByteCount: bytes, hugePages: hugePages)
                let alignment = hugePages && bytes >= 2 << 20 ? 2 << 20 : 64
                #expect(Int(bitPattern: storage.base) % alignment == 0, "\(bytes) bytes")
                let raw = UnsafeRawBufferPointer(start: storage.base, count: bytes)
                #expect(raw.allSatisfy { $0 == 0 } && raw.count == bytes)
                storage.base.storeBytes(of: 0xFF, toByteOffset: bytes - 1, as: UInt8.self)
            }
            #expect(Int(bitPattern: WeightArena(byteCount: 3 << 20).storage.base) % (2 << 20) == 0)
        }

        /// Placed tensors are exact copies back to back (64-byte aligned) in one storage; Q8_0/Q4_0 matrices with
        /// rows % 8 == 0 arrive in their r8 layouts, the same bytes `interleavedRows()` gives; a full arena throws.
        @Test func placesCopiesBackToBackAndInterleavesQuantizedRows() throws {
            let sources = [
                try randomTensor(Shape(64, 8), seed: 41).converted(to: .q8_0),
                try randomTensor(Shape(64, 12), seed: 42).converted(to: .q4_0),
                try randomTensor(Shape(7, 3), seed: 43),
                try randomTensor(Shape(96, 16), seed: 44).converted(to: .f16),
                try randomTensor(Shape(64, 16), seed: 45).converted(to: .q4_0),
            ]
            let total = sources.reduce(0) { $0 + WeightArena.footprint($1.dtype, $1.shape) }
            #expect(WeightArena.footprint(.f32, Shape(7, 3)) == 128)
            var arena = WeightArena(byteCount: total)
            var offset = 0
            for source in sources {
                let placed = try arena.place(source)
                #expect(placed.storage === arena.storage && placed.byteOffset == offset && placed.byteOffset % 64 == 0)
                #expect(placed.shape == source.shape && placed.floats() == source.floats())
                if source.isInterleavable {
                    #expect(placed.dtype == source.dtype.interleavedLayout)
                    #expect(placed.bytes == (try source.interleavedRows()).bytes)
                } else {
                    #expect(placed.dtype == source.dtype && placed.bytes == source.bytes)
                }
                offset += WeightArena.footprint(source.dtype, source.shape)
            }
            #expect(arena.usedBytes == total)
            #expect(throws: TensorError.self) { try arena.place(sources[2]) }

            // placeAll, which copies on all cores, places the same bytes at the same offsets.
            var parallel = WeightArena(byteCount: total)
            let placed = try parallel.placeAll(sources)
            #expect(parallel.usedBytes == total && placed.count == sources.count)
            var sequential = WeightArena(byteCount: total)
            for (source, copy) in zip(sources, placed) {
                let expected = try sequential.place(source)
                #expect(copy.byteOffset == expected.byteOffset && copy.dtype == expected.dtype && copy.bytes == expected.bytes)
            }
            var tooSmall = WeightArena(byteCount: total - 64)
            #expect(throws: TensorError.self) { try tooSmall.placeAll(sources) }
        }
    }
}
