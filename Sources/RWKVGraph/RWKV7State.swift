import Foundation
import ModelFiles
import Tensor

/// The recurrent state of an RWKV-7 model: per layer the time-mix shift (C), the channel-mix shift (C)
/// and the WKV matrices (H × N × N, row = value channel, column = key channel), all f32.
///
/// A value type: copies are independent. Saved files carry a header naming the model shape, and loading
/// refuses a state of another shape.
public struct RWKV7State: Equatable, Sendable {
    public let hyperparameters: RWKV7Hyperparameters
    /// Layer-major: for each layer `attShift`, `ffnShift`, `wkv`.
    public private(set) var values: [Float]

    public var layerStride: Int { 2 * hyperparameters.embedding + hyperparameters.heads * hyperparameters.headSize * hyperparameters.headSize }

    /// The zero state (every v7 state starts at zero).
    public init(hyperparameters: RWKV7Hyperparameters) {
        self.hyperparameters = hyperparameters
        values = []
        values = [Float](repeating: 0, count: layerStride * hyperparameters.layers)
    }

    init(hyperparameters: RWKV7Hyperparameters, values: [Float]) {
        self.hyperparameters = hyperparameters
        self.values = values
    }

    /// Element ranges of layer `i`'s three parts inside ``values``.
    public func ranges(layer i: Int) -> (attShift: Range<Int>, ffnShift: Range<Int>, wkv: Range<Int>) {
        let c = hyperparameters.embedding, base = i * layerStride
        return (base..<(base + c), (base + c)..<(base + 2 * c), (base + 2 * c)..<(base + layerStride))
    }

    public mutating func reset() { values = [Float](repeating: 0, count: values.count) }

    /// The state held in per-layer tensors (time-mix shift [C], channel-mix shift [C], WKV [N, N, H]), as the
    /// graphs' state slots are bound.
    init(hyperparameters: RWKV7Hyperparameters, layers: [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)]) {
        self.init(hyperparameters: hyperparameters)
        for (i, tensors) in layers.enumerated() {
            let ranges = ranges(layer: i)
            values.replaceSubrange(ranges.attShift, with: tensors.attShift.floats())
            values.replaceSubrange(ranges.ffnShift, with: tensors.ffnShift.floats())
            values.replaceSubrange(ranges.wkv, with: tensors.wkv.floats())
        }
    }

    /// Copies the state into per-layer tensors (see ``init(hyperparameters:layers:)``).
    func copy(into layers: [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)]) {
        for (i, tensors) in layers.enumerated() {
            let ranges = ranges(layer: i)
            for (tensor, range) in [(tensors.attShift, ranges.attShift), (tensors.ffnShift, ranges.ffnShift), (tensors.wkv, ranges.wkv)] {
                tensor.withUnsafeMutableBytes { raw in values[range].withUnsafeBytes { raw.copyMemory(from: $0) } }
            }
        }
    }

    static let magic = Array("RWKV7STATE\u{0}\u{1}".utf8)

    /// Writes the state (a header with the model shape, then the f32 values), atomically.
    public func save(to path: String) throws {
        var bytes = Self.magic
        for field in Self.headerFields(hyperparameters) {
            withUnsafeBytes(of: UInt32(field).littleEndian) { bytes += $0 }
        }
        let out = try OutputFile(path: path)
        try out.write(bytes)
        try values.withUnsafeBytes { try out.write($0) }
        try out.commit()
    }

    /// The shape fields a state file's header holds.
    static func headerFields(_ h: RWKV7Hyperparameters) -> [Int] {
        [h.vocabularySize, h.embedding, h.layers, h.headSize, h.decayRank, h.iclrRank, h.valueRank, h.gateRank, h.ffnSize]
    }

    /// Reads a state saved by ``save(to:)``; it must belong to a model of shape `hyperparameters`.
    public init(contentsOf path: String, for hyperparameters: RWKV7Hyperparameters) throws {
        try self.init(file: try MappedFile.mapping(path), for: hyperparameters)
    }

    /// Reads a mapped (or in-memory) state file.
    public init(file: MappedFile, for hyperparameters: RWKV7Hyperparameters) throws {
        let path = file.path, bytes = file.bytes
        let fieldCount = Self.headerFields(hyperparameters).count
        let headerBytes = Self.magic.count + fieldCount * 4
        guard bytes.count >= headerBytes, Array(bytes[..<Self.magic.count]) == Self.magic else {
            throw ModelFileError(path, "not an rwkv-swift state file")
        }
        let fields = (0..<fieldCount).map { i in
            Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: Self.magic.count + 4 * i, as: UInt32.self)))
        }
        guard fields == Self.headerFields(hyperparameters) else {
            let saved = RWKV7Hyperparameters(vocabularySize: fields[0], embedding: fields[1], layers: fields[2], headSize: fields[3],
                                             decayRank: fields[4], iclrRank: fields[5], valueRank: fields[6], gateRank: fields[7], ffnSize: fields[8])
            throw ModelFileError(path, "state is for a model \(saved.summary), not \(hyperparameters.summary)")
        }
        self.init(hyperparameters: hyperparameters)
        let count = values.count
        guard bytes.count == headerBytes + count * 4 else { throw ModelFileError(path, "state has \(bytes.count - headerBytes) bytes of values, expected \(count * 4)") }
        values.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[headerBytes...])) }
    }
}
