import Foundation
import ModelFiles
import Tensor

/// The recurrent state of an RWKV-7 model: per layer the time-mix shift (C), the channel-mix shift (C)
/// and the WKV matrices (H × N × N, row = value channel, column = key channel), all f32. An RWKV-7b model
/// adds per layer the shift rows of its attention (q [Q], k [Q], v [C]) and a context that grows with every
/// token: the normalised key [Q] and value [C] rows of each token so far.
///
/// A value type: copies are independent. Saved files carry a header naming the model shape, and loading
/// refuses a state of another shape.
public struct RWKV7State: Equatable, Sendable {
    public let hyperparameters: RWKV7Hyperparameters
    /// Layer-major: for each layer `attShift`, `ffnShift`, `wkv` (and for RWKV-7b the attention shifts q, k, v).
    public private(set) var values: [Float]
    /// RWKV-7b: for each layer the key rows of every token so far ([P × Q]), then their value rows ([P × C]).
    public private(set) var context: [Float] = []

    public var layerStride: Int {
        let h = hyperparameters
        return 2 * h.embedding + h.heads * h.headSize * h.headSize + (h.hasAttention ? 2 * h.attentionKeySize + h.embedding : 0)
    }

    /// RWKV-7b: the values one token adds to ``context`` in one layer (its key and value rows).
    public var contextStride: Int { hyperparameters.hasAttention ? hyperparameters.attentionKeySize + hyperparameters.embedding : 0 }

    /// Tokens in the attention context (RWKV-7b; 0 for other models).
    public var position: Int { contextStride == 0 ? 0 : context.count / (contextStride * hyperparameters.layers) }

    /// The zero state (every v7 state starts at zero; an RWKV-7b context starts empty).
    public init(hyperparameters: RWKV7Hyperparameters) {
        self.hyperparameters = hyperparameters
        values = []
        values = [Float](repeating: 0, count: layerStride * hyperparameters.layers)
    }

    init(hyperparameters: RWKV7Hyperparameters, values: [Float], context: [Float] = []) {
        self.hyperparameters = hyperparameters
        self.values = values
        self.context = context
    }

    /// Element ranges of layer `i`'s three parts inside ``values``.
    public func ranges(layer i: Int) -> (attShift: Range<Int>, ffnShift: Range<Int>, wkv: Range<Int>) {
        let h = hyperparameters, c = h.embedding, base = i * layerStride, wkvEnd = base + 2 * c + h.heads * h.headSize * h.headSize
        return (base..<(base + c), (base + c)..<(base + 2 * c), (base + 2 * c)..<wkvEnd)
    }

    /// RWKV-7b: element ranges of layer `i`'s attention shifts inside ``values``.
    func attentionShiftRanges(layer i: Int) -> (query: Range<Int>, key: Range<Int>, value: Range<Int>) {
        let q = hyperparameters.attentionKeySize, start = ranges(layer: i).wkv.upperBound
        return (start..<(start + q), (start + q)..<(start + 2 * q), (start + 2 * q)..<(start + 2 * q + hyperparameters.embedding))
    }

    /// The state held in per-layer tensors (time-mix shift [C], channel-mix shift [C], WKV [N, N, H]), as the
    /// graphs' state slots are bound (a model without attention).
    init(hyperparameters: RWKV7Hyperparameters, layers: [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)]) {
        self.init(hyperparameters: hyperparameters)
        for (i, tensors) in layers.enumerated() {
            let ranges = ranges(layer: i)
            values.replaceSubrange(ranges.attShift, with: tensors.attShift.floats())
            values.replaceSubrange(ranges.ffnShift, with: tensors.ffnShift.floats())
            values.replaceSubrange(ranges.wkv, with: tensors.wkv.floats())
        }
    }

    /// Copies the fixed part of the state into per-layer tensors (see ``init(hyperparameters:layers:)``).
    func copy(into layers: [(attShift: Tensor, ffnShift: Tensor, wkv: Tensor)]) {
        for (i, tensors) in layers.enumerated() {
            let ranges = ranges(layer: i)
            for (tensor, range) in [(tensors.attShift, ranges.attShift), (tensors.ffnShift, ranges.ffnShift), (tensors.wkv, ranges.wkv)] {
                copy(range, into: tensor)
            }
        }
    }

    /// Copies `values[range]` into the start of `tensor`.
    func copy(_ range: Range<Int>, into tensor: Tensor) {
        tensor.withUnsafeMutableBytes { raw in values[range].withUnsafeBytes { raw.copyMemory(from: $0) } }
    }

    /// Replaces `values[range]` by the first `range.count` values of `tensor`.
    mutating func read(_ range: Range<Int>, from tensor: Tensor) {
        tensor.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { out in
                UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(out)[(range.lowerBound * 4)..<(range.upperBound * 4)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(range.count * 4)]))
            }
        }
    }

    /// RWKV-7b: the context of `position` tokens, per layer read from the first rows of its key and value caches.
    mutating func readContext(position: Int, caches: [(keys: Tensor, values: Tensor)]) {
        context = []
        context.reserveCapacity(position * contextStride * caches.count)
        for (keys, values) in caches {
            for (cache, width) in [(keys, hyperparameters.attentionKeySize), (values, hyperparameters.embedding)] {
                cache.withUnsafeBytes { raw in context += raw.bindMemory(to: Float.self).prefix(position * width) }
            }
        }
    }

    /// RWKV-7b: writes the context into the first rows of each layer's key and value caches.
    func writeContext(into caches: [(keys: Tensor, values: Tensor)]) {
        let p = position
        var offset = 0
        for (keys, values) in caches {
            for (cache, width) in [(keys, hyperparameters.attentionKeySize), (values, hyperparameters.embedding)] {
                let count = p * width
                cache.withUnsafeMutableBytes { raw in
                    context[offset..<(offset + count)].withUnsafeBytes { raw.copyMemory(from: $0) }
                }
                offset += count
            }
        }
    }

    public mutating func reset() {
        values = [Float](repeating: 0, count: values.count)
        context = []
    }

    static let magic = Array("RWKV7STATE\u{0}\u{1}".utf8)
    /// Version 2 (RWKV-7b): the header adds the attention's key size and cache rank and the position P; the
    /// fixed part is followed by the context (per layer P key rows, then P value rows).
    static let magicWithContext = Array("RWKV7STATE\u{0}\u{2}".utf8)

    /// Writes the state (a header with the model shape, then the f32 values), atomically.
    public func save(to path: String) throws {
        let hasContext = hyperparameters.hasAttention
        var bytes = hasContext ? Self.magicWithContext : Self.magic
        for field in Self.headerFields(hyperparameters) + (hasContext ? [position] : []) {
            withUnsafeBytes(of: UInt32(field).littleEndian) { bytes += $0 }
        }
        let out = try OutputFile(path: path)
        try out.write(bytes)
        try values.withUnsafeBytes { try out.write($0) }
        try context.withUnsafeBytes { try out.write($0) }
        try out.commit()
    }

    /// The shape fields a state file's header holds (version 2 adds the attention's).
    static func headerFields(_ h: RWKV7Hyperparameters) -> [Int] {
        [h.vocabularySize, h.embedding, h.layers, h.headSize, h.decayRank, h.iclrRank, h.valueRank, h.gateRank, h.ffnSize]
            + (h.hasAttention ? [h.attentionKeySize, h.attentionCacheRank] : [])
    }

    /// Reads a state saved by ``save(to:)``; it must belong to a model of shape `hyperparameters`.
    public init(contentsOf path: String, for hyperparameters: RWKV7Hyperparameters) throws {
        try self.init(file: try MappedFile.mapping(path), for: hyperparameters)
    }

    /// Reads a mapped (or in-memory) state file.
    public init(file: MappedFile, for hyperparameters: RWKV7Hyperparameters) throws {
        let path = file.path, bytes = file.bytes
        let hasContext = hyperparameters.hasAttention
        let magic = hasContext ? Self.magicWithContext : Self.magic
        guard bytes.count >= magic.count, Array(bytes[..<(magic.count - 1)]) == Array(magic.dropLast()) else {
            throw ModelFileError(path, "not an rwkv-swift state file")
        }
        guard bytes[magic.count - 1] == magic.last! else {
            throw ModelFileError(path, "state file version \(bytes[magic.count - 1]) is not the one for \(hyperparameters.variant) models (\(magic.last!))")
        }
        let fieldCount = Self.headerFields(hyperparameters).count + (hasContext ? 1 : 0)
        let headerBytes = magic.count + fieldCount * 4
        guard bytes.count >= headerBytes else { throw ModelFileError(path, "state header is truncated") }
        let fields = (0..<fieldCount).map { i in
            Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: magic.count + 4 * i, as: UInt32.self)))
        }
        let expected = Self.headerFields(hyperparameters)
        guard Array(fields.prefix(expected.count)) == expected else {
            let saved = RWKV7Hyperparameters(vocabularySize: fields[0], embedding: fields[1], layers: fields[2], headSize: fields[3],
                                             decayRank: fields[4], iclrRank: fields[5], valueRank: fields[6], gateRank: fields[7], ffnSize: fields[8])
            throw ModelFileError(path, "state is for a model \(saved.summary), not \(hyperparameters.summary)")
        }
        self.init(hyperparameters: hyperparameters)
        let position = hasContext ? fields[expected.count] : 0
        let (count, overflow) = (contextStride * hyperparameters.layers).multipliedReportingOverflow(by: position)
        let fixedBytes = values.count * 4, valueBytes = bytes.count - headerBytes
        guard !overflow, valueBytes % 4 == 0, valueBytes >= fixedBytes, (valueBytes - fixedBytes) / 4 == count else {
            let expected = overflow ? "far more" : "\(fixedBytes) + \(count) × 4"
            throw ModelFileError(path, "state has \(valueBytes) bytes of values, expected \(expected) (\(position) tokens of context)")
        }
        let fixedEnd = headerBytes + fixedBytes
        values.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[headerBytes..<fixedEnd])) }
        context = [Float](repeating: 0, count: count)
        context.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[fixedEnd...])) }
    }
}
